"""The attribution methods an evaluation compares: stored attribution files, and baselines
computed on the fly (plain gradient, a random attribution, integrated gradients).

Each method can give a batch's attributions and, when known, re-run itself on another model
(``explain``), which the randomisation checks need. A file made by ``relscope attribute`` records
its composite and attributor, so its method is re-run from that record."""

from __future__ import annotations

import ast
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import attrs
import torch

from relscope.core.errors import EvaluationError

#: the baselines ``relscope evaluate`` can add, and the attributor each one runs
BASELINE_METHODS = {
    "gradient": "gradient",
    "random": None,
    "integrated_gradients": "integrated_gradients",
}


@attrs.frozen
class AttributionMethod:
    """A method under evaluation: ``name``, and either an attribution ``path`` or a ``baseline``
    computed on the fly; ``composite``/``attributor`` (with params) re-run it when known."""

    name: str
    path: Path | None = None
    baseline: str | None = None
    composite: str = "none"
    composite_params: dict[str, Any] = attrs.field(factory=dict)
    attributor: str | None = None
    attributor_params: dict[str, Any] = attrs.field(factory=dict)

    @property
    def source(self) -> str:
        """Where the attributions come from, as recorded in the evaluation file."""
        return str(self.path) if self.path is not None else f"computed: {self.baseline}"


def baseline_method(name: str) -> AttributionMethod:
    """The on-the-fly baseline ``name`` (gradient, random, integrated_gradients)."""
    if name not in BASELINE_METHODS:
        raise EvaluationError(
            f"unknown baseline method {name!r}; known: {', '.join(BASELINE_METHODS)}"
        )
    return AttributionMethod(name, baseline=name, attributor=BASELINE_METHODS[name])


def _literal(text: Any) -> Any:
    try:
        return ast.literal_eval(text) if isinstance(text, str) else text
    except (ValueError, SyntaxError):
        return text


def file_method(path: Path) -> AttributionMethod:
    """The method of attribution file ``path``: named by its recorded composite (or attributor),
    else by the file's stem; without a record it cannot be re-run."""
    import h5py

    try:
        with h5py.File(path, "r") as file:
            raw = file.attrs.get("relscope_config")
    except OSError as exc:
        raise EvaluationError(f"{path}: cannot open the attribution file ({exc})") from None
    if raw is None:
        return AttributionMethod(path.stem, path=path)
    config = json.loads(raw.decode() if isinstance(raw, bytes) else raw)
    composite = config.get("composite", "none")
    attributor = config.get("attributor", "gradient")
    return AttributionMethod(
        composite if composite != "none" else attributor,
        path=path,
        composite=composite,
        composite_params={k: _literal(v) for k, v in config.get("composite_params", {}).items()},
        attributor=attributor,
        attributor_params={k: _literal(v) for k, v in config.get("attributor_params", {}).items()},
    )


def unique_names(methods: Sequence[AttributionMethod]) -> list[AttributionMethod]:
    """Methods renamed ``name (file stem)`` where two share a name."""
    counts: dict[str, int] = {}
    for method in methods:
        counts[method.name] = counts.get(method.name, 0) + 1
    out = []
    for method in methods:
        if counts[method.name] > 1 and method.path is not None:
            method = attrs.evolve(method, name=f"{method.name} ({method.path.stem})")
        out.append(method)
    names = [m.name for m in out]
    if len(set(names)) != len(names):
        raise EvaluationError(f"two methods are both called {names!r}; give distinct files")
    return out


def explainer(method: AttributionMethod, bounds: tuple[torch.Tensor, torch.Tensor]) -> Any:
    """``explain(model, inputs, classes) -> attributions`` for ``method``, or None when the method
    is not known (a file without relscope's record)."""
    if method.baseline == "random":
        return lambda model, inputs, classes: torch.rand(inputs.shape, device=inputs.device)
    if method.attributor is None:
        return None
    from relscope.core.registry import get_registry
    from relscope.core.runs.dataset_attribution import composite_for_inputs

    def explain(model: Any, inputs: torch.Tensor, classes: torch.Tensor) -> torch.Tensor:
        composite = composite_for_inputs(method.composite, method.composite_params, bounds)
        attributor = get_registry("attributors").create(
            method.attributor, model=model, composite=composite, **method.attributor_params
        )
        with torch.enable_grad():
            _, relevance = attributor(inputs, [int(c) for c in classes])
        return relevance.detach()

    return explain
