"""A data set evaluated, as one value: model, data, attribution methods and metrics in, one JSON
file out (every curve and score with bootstrap 95 % intervals), written atomically.

Runs on the batch engine of :mod:`relscope.core.runs.batch_loop`: each batch's per-sample values
are stored in ``<out>.partial/`` (so ``--resume`` continues), and the file is assembled at the end.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
import numpy as np
import torch

from relscope.core.data.atomic import write_text_atomic
from relscope.core.errors import EvaluationError
from relscope.core.evaluation.methods import AttributionMethod, explainer
from relscope.core.evaluation.metric import EvaluationBatch, PerturbationSettings
from relscope.core.evaluation.perturbation import step_count
from relscope.core.evaluation.positions import layout_for
from relscope.core.evaluation.summary import summarise
from relscope.core.runs.batch_loop import Batching, RunResult, run_batches
from relscope.core.runs.identity import canonical_config, file_hash, model_hash
from relscope.core.runs.samples import Preprocessing
from relscope.core.runs.specs import DataSpec, ModelSpec, check_device
from relscope.core.runs.stored_as_computed import StoredAsComputed

#: format tag of the evaluation file
EVALUATION_FORMAT = "relscope-evaluation/1"
#: perturbation steps when no step size is given
DEFAULT_STEPS = 32


@attrs.frozen
class DatasetEvaluation:
    """Evaluate ``methods`` on ``data`` with ``model`` by ``metrics`` (registered names) into
    ``out``; ``target`` is label, prediction or a class index."""

    model: ModelSpec
    data: DataSpec
    methods: tuple[AttributionMethod, ...]
    out: Path
    metrics: tuple[str, ...] = ("pixel_flipping", "aopc", "abpc")
    settings: PerturbationSettings = PerturbationSettings()
    target: str | int = "label"
    batching: Batching = Batching()
    resume: bool = False

    def prepare(self) -> PreparedEvaluation:
        """Resolve and check everything before any output exists (one-line errors)."""
        from relscope.core.data.attributions import AttributionSet
        from relscope.core.registry import get_registry

        check_device(self.batching.device)
        out = self.out.absolute()
        if out.is_dir():
            raise EvaluationError(f"--out {self.out}: is a folder, expected a JSON file name")
        registry = get_registry("metrics")
        metrics = {name: registry.create(name) for name in self.metrics}
        if not self.methods:
            raise EvaluationError("no attribution methods to evaluate")
        loaded = self.model.load()
        preprocessing = Preprocessing(
            tuple(loaded.mean) if loaded.mean is not None else None,
            tuple(loaded.std) if loaded.std is not None else None,
        )
        source = self.data.open(out.parent)
        try:
            indices = self.data.select(len(source.inputs))
            model = loaded.model.to(self.batching.device).eval()
            first = torch.from_numpy(source.inputs.image(indices[0]).transpose(2, 0, 1).copy())
            x = preprocessing.normalise(first[None].to(self.batching.device))
            with torch.no_grad():
                outputs = int(model(x).reshape(1, -1).shape[1])
            self._check_target(source, outputs)
            bounds = tuple(b.to(self.batching.device) for b in preprocessing.bounds(x.shape[1]))
            sets, explain = {}, {}
            for method in self.methods:
                if method.path is not None:
                    sets[method.name] = AttributionSet(method.path, inputs=source.inputs)
                    missing = [i for i in indices if i not in sets[method.name]]
                    if missing:
                        raise EvaluationError(
                            f"{method.path}: no attribution for sample {missing[0]} "
                            f"({len(missing)} of the {len(indices)} evaluated samples missing)"
                        )
                    stored = torch.from_numpy(sets[method.name].attribution(indices[0]))[None]
                    try:
                        layout, _ = layout_for(x, stored, self.settings.region)
                    except EvaluationError as exc:
                        raise EvaluationError(f"{method.path}: {exc}") from None
                else:
                    layout, _ = layout_for(x, x, self.settings.region)
                explain[method.name] = explainer(method, bounds)
                for name, metric in metrics.items():
                    if metric.needs_explain and explain[method.name] is None:
                        raise EvaluationError(
                            f"metric {name!r} re-runs the method of {method.source}, which "
                            "records no relscope configuration"
                        )
            settings = self.settings
            if settings.step is None:  # default: DEFAULT_STEPS steps
                settings = attrs.evolve(settings, step=math.ceil(layout.count / DEFAULT_STEPS))
            step_count(layout.count, settings.step)
        except BaseException:
            source.inputs.close()
            raise
        spec = attrs.evolve(self, settings=settings)
        return PreparedEvaluation(
            spec, out, model, source, indices, preprocessing, metrics, sets, explain, outputs
        )

    def _check_target(self, source: Any, outputs: int) -> None:
        if isinstance(self.target, int) and self.target >= outputs:
            raise EvaluationError(
                f"--target {self.target} is outside the model's {outputs} outputs"
            )
        if self.target == "label" and source.label_map is not None:
            top = max(entry.index for entry in source.label_map.entries)
            if top >= outputs:
                raise EvaluationError(
                    f"--target label: the label map has class {top}, outside the model's "
                    f"{outputs} outputs"
                )


@attrs.define
class PreparedEvaluation:
    """A resolved :class:`DatasetEvaluation`, ready to run (its data source is open)."""

    spec: DatasetEvaluation
    out: Path
    model: Any
    source: Any
    indices: list[int]
    preprocessing: Preprocessing
    metrics: dict[str, Any]
    sets: dict[str, Any]
    explain: dict[str, Any]
    outputs: int

    def config(self) -> dict[str, Any]:
        """Everything that fixes the result (recorded in the file, compared by ``--resume``)."""
        spec = self.spec
        return {
            "format": EVALUATION_FORMAT,
            "model": spec.model.spec,
            "model_state": model_hash(self.model),
            "weights_file": file_hash(spec.model.weights),
            "data": spec.data.spec,
            "data_fingerprint": self.source.fingerprint,
            "methods": [
                {"name": m.name, "source": m.source, "file": file_hash(m.path)}
                for m in spec.methods
            ],
            "metrics": list(spec.metrics),
            "settings": spec.settings.as_dict(),
            "target": spec.target,
            "samples": len(self.indices),
            "batch_size": spec.batching.batch_size,
            "seed": spec.batching.seed,
        }

    def run(self, progress: bool = True) -> RunResult:
        """Evaluate every batch, then write the JSON file; closes the data source afterwards.

        With ``resume``, a complete file made with the same configuration is kept as it is, and
        an interrupted evaluation continues from its finished batches.
        """
        config = self.config()
        if self.spec.resume and _complete(self.out, config):
            self._close()
            return RunResult(0, len(self.indices), already_complete=True)
        job = EvaluationJob(self, config)
        try:
            return run_batches(
                job,
                self.source.inputs,
                self.out,
                config,
                self.indices,
                preprocessing=self.preprocessing,
                batching=self.spec.batching,
                resume=self.spec.resume,
                progress=progress,
                progress_label="evaluate",
            )
        finally:
            self._close()

    def _close(self) -> None:
        for attributions in self.sets.values():
            attributions.close()
        self.source.inputs.close()


def _complete(out: Path, config: dict[str, Any]) -> bool:
    """Whether ``out`` is an evaluation file made with exactly ``config``."""
    try:
        stored = json.loads(out.read_text(encoding="utf-8")).get("config")
    except (OSError, ValueError, AttributeError):
        return False
    return stored == canonical_config(config)


class EvaluationJob(StoredAsComputed):
    """The batch job: attributions of every method for a batch, every metric on them."""

    #: ``compute`` gets the batch's sample indices (it reads their stored attributions)
    takes_indices = True

    def __init__(self, prepared: PreparedEvaluation, config: dict[str, Any]) -> None:
        self.prepared = prepared
        self.config = config

    def __enter__(self) -> EvaluationJob:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def _classes(self, inputs: torch.Tensor, labels: list[list[int]]) -> torch.Tensor:
        target = self.prepared.spec.target
        if target == "prediction":
            with torch.no_grad():
                return self.prepared.model(inputs).reshape(len(inputs), -1).argmax(1)
        if isinstance(target, int):
            return torch.full((len(inputs),), target, dtype=torch.long, device=inputs.device)
        return torch.tensor([row[0] for row in labels], dtype=torch.long, device=inputs.device)

    def compute(
        self, inputs: torch.Tensor, labels: list[list[int]], indices: np.ndarray
    ) -> dict[str, np.ndarray]:
        """Per-sample values ``method/metric/key`` (and the JSON values as text) of the batch of
        samples ``indices``."""
        prepared = self.prepared
        classes = self._classes(inputs, labels)
        if int(classes.max()) >= prepared.outputs:
            raise EvaluationError(
                f"target {int(classes.max())} is outside the model's {prepared.outputs} outputs"
            )
        arrays: dict[str, np.ndarray] = {"class": classes.cpu().numpy()}
        wanted = (getattr(m, "curve_orders", ()) for m in prepared.metrics.values())
        orders = tuple(dict.fromkeys(o for metric_orders in wanted for o in metric_orders))
        for method in prepared.spec.methods:
            explain = prepared.explain[method.name]
            if method.path is not None:
                stored = prepared.sets[method.name]
                attributions = torch.from_numpy(
                    np.stack([stored.attribution(int(i)) for i in indices])
                ).to(inputs.device)
            else:
                attributions = explain(prepared.model, inputs, classes)
            batch = EvaluationBatch(
                prepared.model,
                inputs,
                attributions,
                classes,
                prepared.spec.settings,
                explain,
                seed=prepared.spec.batching.seed,
                orders=orders,
            )
            for name, metric in prepared.metrics.items():
                for key, value in metric.compute(batch).items():
                    field = f"{method.name}/{name}/{key}"
                    if isinstance(value, np.ndarray):
                        arrays[field] = value
                    else:
                        arrays[f"{field}/json"] = np.asarray(json.dumps(value))
        return arrays

    def assemble(
        self, out: Path, batches: Iterator[dict[str, np.ndarray]], attributes: dict[str, str]
    ) -> None:
        """Join the batches, summarise, and write the JSON file atomically."""
        joined: dict[str, list[np.ndarray]] = {}
        texts: dict[str, str] = {}
        for batch in batches:
            for key, value in batch.items():
                if key.endswith("/json"):
                    texts[key[: -len("/json")]] = str(value)
                else:
                    joined.setdefault(key, []).append(value)
        columns = {key: np.concatenate(parts) for key, parts in joined.items()}
        results: dict[str, dict[str, dict[str, Any]]] = {}
        for key, value in [*columns.items(), *((k, json.loads(t)) for k, t in texts.items())]:
            if key in ("class", "index"):
                continue
            method, metric, name = key.split("/", 2)
            results.setdefault(method, {}).setdefault(metric, {})[name] = value
        methods, comparisons = summarise(results, seed=self.prepared.spec.batching.seed)
        document = {
            "format": EVALUATION_FORMAT,
            "config": canonical_config(self.config),
            "indices": columns["index"].tolist(),
            "target_classes": columns["class"].tolist(),
            "methods": {
                m.name: {"source": m.source, "metrics": methods.get(m.name, {})}
                for m in self.prepared.spec.methods
            },
            "comparisons": comparisons,
        }
        write_text_atomic(out, json.dumps(document))
