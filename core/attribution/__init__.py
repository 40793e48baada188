"""The attribution engine: rules, composites, canonizers, attributors and ``attribute(...)``.

from relscope.core.attribution import attribute, get_composite
composite = get_composite("epsilon_gamma_box", low=-3.0, high=3.0)
relevance = attribute(model, inputs, target=labels, composite=composite)
"""

from __future__ import annotations

from relscope.core.attribution.api import attribute, get_attributor, get_composite
from relscope.core.attribution.attributor import Attributor, Gradient
from relscope.core.attribution.canonizer import Canonizer
from relscope.core.attribution.composite import (
    Composite,
    LayerMapComposite,
    MixedComposite,
    NameMapComposite,
    SpecialFirstLayerMapComposite,
    resolve_rule,
)
from relscope.core.attribution.layer_types import (
    Activation,
    AvgPool,
    BatchNorm,
    Convolution,
    Dense,
    Dropout,
    Linear,
    MaxPool,
    Reshape,
    Summation,
)
from relscope.core.attribution.linear_rule import LinearRule
from relscope.core.attribution.rule import Rule, RuleContext
from relscope.core.attribution.stabilizer import Stabilizer
from relscope.core.attribution.sum_layer import Sum
from relscope.core.attribution.targets import make_attr_output

__all__ = [
    "Activation",
    "Attributor",
    "AvgPool",
    "BatchNorm",
    "Canonizer",
    "Composite",
    "Convolution",
    "Dense",
    "Dropout",
    "Gradient",
    "LayerMapComposite",
    "Linear",
    "LinearRule",
    "MaxPool",
    "MixedComposite",
    "NameMapComposite",
    "Reshape",
    "Rule",
    "RuleContext",
    "SpecialFirstLayerMapComposite",
    "Stabilizer",
    "Sum",
    "Summation",
    "attribute",
    "get_attributor",
    "get_composite",
    "make_attr_output",
    "resolve_rule",
]
