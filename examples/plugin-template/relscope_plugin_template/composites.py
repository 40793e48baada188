"""The template's composite: the new rule on convolutions, ε on dense layers."""

from __future__ import annotations

from typing import Any

from relscope.core.attribution.composite import LayerMapComposite
from relscope.core.attribution.layer_types import Convolution, Dense
from relscope.plugins.rules.composites import base_map
from relscope_plugin_template.rules import PositiveInputEpsilon


class EpsilonPositiveInput(LayerMapComposite):
    """ε on the positive input part for convolutions, ε for dense layers, the usual base map."""

    name = "epsilon_positive_input"

    def __init__(self, epsilon: float = 1e-6, canonizers: Any = None) -> None:
        layer_map = [
            (Convolution, PositiveInputEpsilon(epsilon=epsilon)),
            (Dense, "epsilon"),  # any registered rule can be named instead of built
        ]
        super().__init__(layer_map=layer_map + base_map(), canonizers=canonizers)
