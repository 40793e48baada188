"""Every hook a relscope plugin can implement, in one place (module-level specs, one line each).

A collecting hook's ``register(name, obj, description=..., override=False)`` takes the object
itself or ``lazy("pkg.module:Name", Parameter(...), ...)``, imported when first fetched
(``docs/plugins.md``).
"""

from __future__ import annotations

from typing import Any

import pluggy

hookspec = pluggy.HookspecMarker("relscope")
hookimpl = pluggy.HookimplMarker("relscope")


@hookspec
def register_rules(register: Any) -> None:
    """Register LRP rules: ``register("epsilon", Epsilon, description=...)``."""


@hookspec
def register_composites(register: Any) -> None:
    """Register composites: ``register("epsilon_gamma_box", EpsilonGammaBox, description=...)``."""


@hookspec
def register_canonizers(register: Any) -> None:
    """Register canonizers: ``register("merge_batchnorm", MergeBatchNorm)``."""


@hookspec
def register_attributors(register: Any) -> None:
    """Register attributors: ``register("smoothgrad", SmoothGrad)``."""


@hookspec
def register_processors(register: Any) -> None:
    """Register analysis processors and pipelines: ``register("kmeans", KMeans)``."""


@hookspec
def register_viewer_panels(register: Any) -> None:
    """Register explorer panels: ``register(Panel(name=..., region=..., routes=..., ...))``."""


@hookspec
def register_colormaps(register: Any) -> None:
    """Register colour maps: ``register("coldnhot", "0ff,00f,80:000,f00,ff0,fff")``."""


@hookspec
def register_metrics(register: Any) -> None:
    """Register evaluation metrics: ``register("pixel_flipping", PixelFlipping)``."""


@hookspec
def register_datasets(register: Any) -> None:
    """Register built-in data sets for ``--data builtin:NAME``: ``register("digits", write)``."""


@hookspec
def register_commands(subparsers: Any) -> None:
    """Add sub-commands to the ``relscope`` CLI (an ``argparse`` sub-parsers object)."""


@hookspec(firstresult=True)
def default_canonizers(model: Any) -> Any:
    """Return the canonizers ``model`` needs (a list), or None when this plugin does not know it."""
