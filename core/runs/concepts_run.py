"""``relscope concepts`` as a run: channel relevances of a data set and per-channel references.

Pass 1 is a job of the run engine (:mod:`relscope.core.runs.batch_loop`: batches stored in
``<out>.partial/``, resumable): one attribution pass per batch records, for every chosen layer,
each channel's relevance (summed over positions) and maximal activation. Assembling the output
streams the stored batches into the file while per-channel top-k buffers keep the best samples by
relevance (RelMax) and by activation (ActMax): memory is bounded by the buffers, not by the
number of samples. Pass 2 then computes, for every reference (channel, sample), the conditional heatmap of the relevance that
flows from the model output through that channel (a full backward pass, never one started from
the activation) and the box of its support. The file is written under a temporary name and
renamed when complete.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from relscope.core.attribution.conditions import LayerProbe, attribute_rows, record_layers
from relscope.core.concepts.concepts_file import KINDS, ConceptsFileWriter
from relscope.core.concepts.region import support_box
from relscope.core.concepts.top_k import TopK
from relscope.core.data.atomic import atomic_path
from relscope.core.data.labels import labels_array
from relscope.core.errors import AttributionError, DataFormatError
from relscope.core.runs.attribution_run import target_relevance
from relscope.core.runs.batch_loop import Batching, RunResult, run_batches
from relscope.core.runs.samples import Preprocessing, SampleDataset, collate
from relscope.core.runs.stored_as_computed import StoredAsComputed

#: how the relevance starts at the target output: its logit (as CRP does: relevance in proportion
#: to the evidence, never blown up by a logit near zero) or one
RELEVANCE_INITS = ("logit", "one")


def initial_relevance(target: str | int, labels: list[list[int]], init: str) -> Any:
    """The attributor's ``attr_output`` for a batch: the target one-hot, times the logit for
    ``init="logit"``."""
    from relscope.core.attribution.targets import make_attr_output

    base = target_relevance(target, labels)
    if init == "one":
        return base
    if init != "logit":
        raise AttributionError(f"relevance init must be one of {', '.join(RELEVANCE_INITS)}")
    selection = make_attr_output(base)
    return lambda output: selection(output) * output.detach()


def _numpy(tensor: torch.Tensor) -> np.ndarray:
    return tensor.detach().float().cpu().numpy()


def _reference_heatmaps(
    attributor: Any,
    inputs: Any,
    layer: str,
    indices: dict[str, np.ndarray],
    run: dict[str, Any],
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per kind, conditional heatmaps (C, k, H, W) and support boxes (C, k, 4) of the reference
    samples ``indices[kind]`` (C, k); a (channel, sample) that is a reference of several kinds
    (often: high activation and high relevance) is computed once."""
    pairs = sorted({(c, int(i)) for rows in indices.values() for c, row in enumerate(rows)
                    for i in row if i >= 0})  # fmt: skip
    top = max((int(rows.max()) for rows in indices.values()), default=-1)
    height, width = inputs.image(top).shape[:2] if pairs else (1, 1)
    computed: dict[tuple[int, int], np.ndarray] = {}
    dataset = SampleDataset(inputs, [i for _, i in pairs])
    preprocessing, device = run["preprocessing"], run["device"]
    for start in range(0, len(pairs), run["batch_size"]):
        chunk = pairs[start : start + run["batch_size"]]
        images, labels, _ = collate([dataset[start + n] for n in range(len(chunk))])
        _, relevance = attribute_rows(
            attributor,
            preprocessing.normalise(images.to(device)),
            [{layer: [c]} for c, _ in chunk],
            initial_relevance(run["target"], labels, run["init"]),
        )
        for pair, heat in zip(chunk, _numpy(relevance.sum(1)), strict=True):
            computed[pair] = heat
    result = {}
    for kind, rows in indices.items():
        heatmaps = np.zeros((*rows.shape, height, width), np.float32)
        boxes = np.zeros((*rows.shape, 4), np.int32)
        for c, row in enumerate(rows):
            for j, i in enumerate(row):
                if i >= 0:
                    heatmaps[c, j] = computed[(c, int(i))]
                    boxes[c, j] = support_box(heatmaps[c, j])
        result[kind] = (heatmaps, boxes)
    return result


class ConceptsJob(StoredAsComputed):
    """Per batch: channel relevance and maximal activation of ``layers``; the file at the end."""

    def __init__(
        self,
        attributor: Any,
        inputs: Any,
        layers: Sequence[str],
        target: str | int,
        top_k: int,
        preprocessing: Preprocessing,
        batching: Batching,
        init: str = "logit",
    ) -> None:
        self.attributor = attributor
        self.inputs = inputs
        self.layers = list(layers)
        self.top_k = top_k
        self.run = {"preprocessing": preprocessing, "device": batching.device, "target": target}
        self.run["batch_size"], self.run["init"] = batching.batch_size, init

    def __enter__(self) -> ConceptsJob:
        self.attributor.__enter__()
        return self

    def __exit__(self, *exc: Any) -> Any:
        return self.attributor.__exit__(*exc)

    def compute(self, inputs: Any, labels: list[list[int]]) -> dict[str, np.ndarray]:
        """Model output, labels and, per layer, (B, C) channel relevances and activations."""
        output, _, relevance, activation = record_layers(
            self.attributor,
            inputs,
            self.layers,
            initial_relevance(self.run["target"], labels, self.run["init"]),
        )
        arrays = {
            "prediction": _numpy(output).reshape(len(labels), -1),
            "label": labels_array(labels, self.inputs.multi_label, self.inputs.label_column.width),
        }
        for position, name in enumerate(self.layers):
            arrays[f"relevance_{position}"] = _numpy(relevance[name])
            arrays[f"activation_{position}"] = _numpy(activation[name])
        return arrays

    def assemble(
        self, out: Path, batches: Iterator[dict[str, np.ndarray]], attributes: dict[str, str]
    ) -> None:
        """Stream the batches into ``out`` (atomically), then the reference samples' heatmaps."""
        label_width = (self.inputs.label_column.width,) if self.inputs.multi_label else ()
        writer: ConceptsFileWriter | None = None
        buffers: dict[str, dict[str, TopK]] = {}
        with atomic_path(out) as temp:
            try:
                for batch in batches:
                    rel = {n: batch[f"relevance_{p}"] for p, n in enumerate(self.layers)}
                    act = {n: batch[f"activation_{p}"] for p, n in enumerate(self.layers)}
                    if writer is None:
                        channels = {n: rel[n].shape[1] for n in self.layers}
                        extra = {**attributes, "top_k": self.top_k}
                        writer = ConceptsFileWriter(temp, channels, label_width, extra)
                        buffers = {
                            n: {k: TopK(c, self.top_k) for k in KINDS} for n, c in channels.items()
                        }
                    writer.append(batch["index"], batch["label"], batch["prediction"], rel, act)
                    for name in self.layers:
                        buffers[name]["relmax"].update(rel[name], batch["index"])
                        buffers[name]["actmax"].update(act[name], batch["index"])
                if writer is None:
                    raise DataFormatError(f"{out}: no samples to write")
                with self.attributor:
                    for name in self.layers:
                        tops = {kind: buffers[name][kind].result() for kind in KINDS}
                        maps = _reference_heatmaps(
                            self.attributor,
                            self.inputs,
                            name,
                            {kind: index for kind, (_, index) in tops.items()},
                            self.run,
                        )
                        for kind, (value, index) in tops.items():
                            heatmap, box = maps[kind]
                            writer.write_references(name, kind, value, index, heatmap, box)
            finally:
                if writer is not None:
                    writer.close()


def check_layers(attributor: Any, sample: torch.Tensor, layers: Sequence[str]) -> dict[str, int]:
    """Channels of each of ``layers`` from one forward pass of one sample (bad names fail here)."""
    if not layers:
        raise AttributionError("concepts need at least one layer")
    probe = LayerProbe(attributor.model, None, 1, record=layers)
    with probe.attached(), torch.no_grad():
        attributor.model(sample)
    return {n: int(probe.activation[n].shape[1]) for n in layers}


def concepts_config(
    config: dict[str, Any],
    layers: Sequence[str],
    top_k: int,
    target: str | int,
    init: str,
    batching: Batching,
) -> dict[str, Any]:
    """The whole identity of a concepts run: ``config`` (model, data, composite, ...) and the
    concept options; stored in the file and compared by ``--resume`` (also under torchrun)."""
    return {
        **config,
        "layers": list(layers),
        "top_k": top_k,
        "target": target,
        "relevance_init": init,
        "batch_size": batching.batch_size,
        "seed": batching.seed,
    }


def concepts_dataset(
    attributor: Any,
    inputs: Any,
    out: str | Path,
    layers: Sequence[str],
    config: dict[str, Any],
    *,
    indices: Sequence[int] | None = None,
    preprocessing: Preprocessing = Preprocessing(),
    target: str | int = "label",
    top_k: int = 8,
    batching: Batching = Batching(),
    resume: bool = False,
    progress: bool = False,
    init: str = "logit",
) -> RunResult:
    """Write ``out`` (concepts.h5) for ``layers`` of ``attributor.model`` over ``inputs[indices]``.

    ``attributor`` is an (entered-able) Gradient attributor with the run's composite; ``config``
    (what determined the result) is the run's identity for ``resume`` and is stored in the file.
    Layer names and shapes are checked on the first sample before anything is written.
    ``init``: the relevance at the target output, ``"logit"`` (as CRP) or ``"one"``.
    """
    if init not in RELEVANCE_INITS:
        raise AttributionError(f"relevance init must be one of {', '.join(RELEVANCE_INITS)}")
    todo = list(range(len(inputs))) if indices is None else [int(i) for i in indices]
    if not todo:
        raise DataFormatError(f"{inputs.path}: no samples")
    first = collate([SampleDataset(inputs, todo[:1])[0]])[0]
    check_layers(attributor, preprocessing.normalise(first.to(batching.device)), layers)
    config = concepts_config(config, layers, top_k, target, init, batching)
    job = ConceptsJob(attributor, inputs, layers, target, top_k, preprocessing, batching, init)
    return run_batches(
        job,
        inputs,
        out,
        config,
        todo,
        preprocessing=preprocessing,
        batching=batching,
        resume=resume,
        progress=progress,
        progress_label="concepts",
    )
