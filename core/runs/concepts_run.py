"""``relscope concepts`` as a run: channel relevances of a data set and per-channel references.

Pass 1 streams the samples in batches: one attribution pass per batch records, for every chosen
layer, each channel's relevance (summed over positions) and maximal activation, appended to the
output, while per-channel top-k buffers keep the best samples by relevance (RelMax) and by
activation (ActMax): memory is bounded by the buffers, not by the number of samples. Pass 2
computes, for every reference (channel, sample), the conditional heatmap of the relevance that
flows from the model output through that channel (a full backward pass, never one started from
the activation) and the box of its support. The file is written under a temporary name and
renamed when complete.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import attrs
import numpy as np
import torch

from relscope.core.attribution.conditions import attribute_rows, record_layers
from relscope.core.concepts.concepts_file import KINDS, ConceptsFileWriter
from relscope.core.concepts.region import support_box
from relscope.core.concepts.top_k import TopK
from relscope.core.data.atomic import atomic_path
from relscope.core.data.attribute_dataset import (
    Preprocessing,
    SampleDataset,
    collate,
    target_relevance,
)
from relscope.core.data.labels import labels_array
from relscope.core.errors import AttributionError


@attrs.frozen
class ConceptsResult:
    """What a concepts run wrote: samples, layers with their channel counts, top-k."""

    samples: int
    channels: dict[str, int]
    top_k: int


def _loader(inputs: Any, indices: Sequence[int], batch_size: int, workers: int) -> Any:
    return torch.utils.data.DataLoader(
        SampleDataset(inputs, indices),
        batch_size=batch_size,
        shuffle=False,
        num_workers=workers,
        collate_fn=collate,
    )


def _numpy(tensor: torch.Tensor) -> np.ndarray:
    return tensor.detach().float().cpu().numpy()


def _reference_heatmaps(
    attributor: Any,
    inputs: Any,
    layer: str,
    indices: np.ndarray,
    run: dict[str, Any],
) -> tuple[np.ndarray, np.ndarray]:
    """Conditional heatmaps (C, k, H, W) and support boxes (C, k, 4) of reference samples."""
    pairs = [(c, j, int(i)) for c, row in enumerate(indices) for j, i in enumerate(row) if i >= 0]
    height, width = inputs.image(int(indices.max())).shape[:2] if pairs else (1, 1)
    heatmaps = np.zeros((*indices.shape, height, width), np.float32)
    boxes = np.zeros((*indices.shape, 4), np.int32)
    dataset = SampleDataset(inputs, [i for _, _, i in pairs])
    preprocessing, device = run["preprocessing"], run["device"]
    for start in range(0, len(pairs), run["batch_size"]):
        chunk = pairs[start : start + run["batch_size"]]
        images, labels, _ = collate([dataset[start + n] for n in range(len(chunk))])
        _, relevance = attribute_rows(
            attributor,
            preprocessing.normalise(images.to(device)),
            [{layer: [c]} for c, _, _ in chunk],
            target_relevance(run["target"], labels),
        )
        maps = _numpy(relevance.sum(1))
        for (c, j, _), heat in zip(chunk, maps, strict=True):
            heatmaps[c, j] = heat
            boxes[c, j] = support_box(heat)
    return heatmaps, boxes


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
    batch_size: int = 32,
    top_k: int = 8,
    device: str = "cpu",
    workers: int = 0,
) -> ConceptsResult:
    """Write ``out`` (concepts.h5) for ``layers`` of ``attributor.model`` over ``inputs[indices]``.

    ``attributor`` is an (entered-able) Gradient attributor with the run's composite; ``config``
    is stored in the file's attributes (what determined the result).
    """
    if not layers:
        raise AttributionError("concepts need at least one layer")
    todo = list(range(len(inputs))) if indices is None else [int(i) for i in indices]
    run = {"preprocessing": preprocessing, "device": device, "target": target}
    run["batch_size"] = batch_size
    attributes = {"relscope_config": json.dumps(config, sort_keys=True), "top_k": top_k}
    label_width = () if not inputs.multi_label else (inputs.label_column.width,)
    writer: ConceptsFileWriter | None = None
    buffers: dict[str, dict[str, TopK]] = {}
    with atomic_path(out) as temp, attributor:
        try:
            for images, labels, batch_indices in _loader(inputs, todo, batch_size, workers):
                output, _, relevance, activation = record_layers(
                    attributor,
                    preprocessing.normalise(images.to(device)),
                    layers,
                    target_relevance(target, labels),
                )
                rel = {n: _numpy(relevance[n]) for n in layers}
                act = {n: _numpy(activation[n]) for n in layers}
                if writer is None:
                    channels = {n: rel[n].shape[1] for n in layers}
                    writer = ConceptsFileWriter(temp, channels, label_width, attributes)
                    buffers = {
                        n: {kind: TopK(c, top_k) for kind in KINDS} for n, c in channels.items()
                    }
                idx = np.asarray(batch_indices, np.int64)
                writer.append(
                    idx,
                    labels_array(labels, inputs.multi_label, inputs.label_column.width),
                    _numpy(output).reshape(len(labels), -1),
                    rel,
                    act,
                )
                for name in layers:
                    buffers[name]["relmax"].update(rel[name], idx)
                    buffers[name]["actmax"].update(act[name], idx)
            assert writer is not None, "no samples"
            for name in layers:
                for kind in KINDS:
                    value, index = buffers[name][kind].result()
                    heatmap, box = _reference_heatmaps(attributor, inputs, name, index, run)
                    writer.write_references(name, kind, value, index, heatmap, box)
        finally:
            if writer is not None:
                writer.close()
    return ConceptsResult(
        len(todo), {n: b["relmax"].values.shape[0] for n, b in buffers.items()}, top_k
    )
