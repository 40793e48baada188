"""The attributions of one category, read in bulk from attribution files (channels first).

SpRAy analyses each category (label) on its own: these helpers find which dataset indices carry a
label and read their attributions as one (M, C, H, W) float32 array.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import h5py
import numpy as np

from relscope.core.data.attributions import AttributionSet
from relscope.core.data.label_map import LabelMap
from relscope.core.data.pixels import is_channels_first
from relscope.core.errors import AnalyzeError

#: rows read per h5py selection (bounded memory per read, few selections)
READ_BATCH = 1024


def category_indices(attributions: AttributionSet, label_map: LabelMap) -> dict[int, np.ndarray]:
    """Label index -> sorted dataset indices whose labels include it (label-map order)."""
    members: dict[int, list[int]] = {entry.index: [] for entry in label_map}
    for index in attributions.indices.tolist():
        for label in attributions.labels(index):
            if label in members:
                members[label].append(index)
    return {label: np.asarray(rows, dtype=np.int64) for label, rows in members.items()}


def _file_rows(attributions: AttributionSet) -> list[np.ndarray]:
    rows = []
    for file in attributions.files:
        if file.index is not None:
            rows.append(np.asarray(file.index, dtype=np.int64))
        else:
            rows.append(np.arange(file.rows, dtype=np.int64))
    return rows


def load_attributions(attributions: AttributionSet, indices: Sequence[int]) -> Any:
    """Attributions of dataset ``indices`` as (M, C, H, W) float32, in the order given; token
    attributions (files with ``input_ids``) as ``{"relevance": (M, T), "input_ids": (M, T)}``."""
    wanted = np.asarray(indices, dtype=np.int64)
    if all(_has_token_ids(file.path) for file in attributions.files):
        return {
            "relevance": _load_key(attributions, wanted, "attribution"),
            "input_ids": _load_key(attributions, wanted, "input_ids").astype(np.int64),
        }
    return _load_key(attributions, wanted, "attribution")


def _has_token_ids(path: Any) -> bool:
    with h5py.File(path, "r") as handle:
        return "input_ids" in handle and handle["attribution"].ndim == 2


def _load_key(attributions: AttributionSet, wanted: np.ndarray, key: str) -> np.ndarray:
    out: np.ndarray | None = None
    for file, claimed in zip(attributions.files, _file_rows(attributions), strict=True):
        order = np.argsort(claimed, kind="stable")
        pos = np.searchsorted(claimed[order], wanted)
        pos = np.minimum(pos, len(claimed) - 1)
        hit = claimed[order][pos] == wanted
        if not hit.any():
            continue
        targets = np.flatnonzero(hit)
        rows = order[pos[hit]]
        with h5py.File(file.path, "r") as handle:
            node = handle[key]
            if isinstance(node, h5py.Dataset):
                block = _read_rows(node, rows)
            else:  # a group of per-sample datasets: one read each
                block = np.stack([attributions.attribution(int(wanted[t])) for t in targets])
        if out is None:
            out = np.empty((len(wanted), *block.shape[1:]), dtype=block.dtype)
        out[targets] = block
    if out is None:
        raise KeyError("none of the requested indices has an attribution")
    return out


def _read_rows(node: h5py.Dataset, rows: np.ndarray) -> np.ndarray:
    """Rows of a dataset (any order) as channels-first float32."""
    order = np.argsort(rows, kind="stable")
    parts = []
    for start in range(0, len(rows), READ_BATCH):
        chosen = rows[order[start : start + READ_BATCH]]
        low, high = int(chosen[0]), int(chosen[-1]) + 1
        if high - low <= 2 * len(chosen):  # dense enough: read the span, then pick
            parts.append(node[low:high][chosen - low])
        else:
            parts.append(node[np.unique(chosen)][np.searchsorted(np.unique(chosen), chosen)])
    block = np.concatenate(parts)
    if block.dtype.kind == "f":
        block = block.astype(np.float32, copy=False)
    result = np.empty_like(block)
    result[order] = block
    if result.ndim == 4 and not is_channels_first(result.shape[1:]):
        result = np.ascontiguousarray(np.moveaxis(result, -1, 1))
    elif result.ndim == 3:
        result = result[:, None]
    return result


def select_categories(label_map: LabelMap, wanted: list[str] | None) -> list[Any]:
    """The label-map entries named by ``--categories`` (word_net_ids, names or indices; default
    all), in the order given, each once."""
    if not wanted:
        return list(label_map)
    chosen = []
    for item in wanted:
        matches = [e for e in label_map if item in (e.word_net_id, e.name) or item == str(e.index)]
        if not matches:
            raise AnalyzeError(
                f"--categories: {item!r} is no word_net_id, name or index of the label map "
                f"{label_map.source}"
            )
        chosen.extend(m for m in matches if m not in chosen)
    return chosen
