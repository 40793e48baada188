"""Token heatmaps of a whole attribution file: one HTML page per row, from the (N, T) relevance and
the token data file it was computed on (vocabulary and attention mask).

Rows pair with samples through the file's ``index`` dataset (a subset run) or one row per sample.
Everything is checked before anything is written: the data's sample count and length, the ids the
run stored (``input_ids``) against the data's, finite relevance. Each page is written atomically.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import h5py
import numpy as np

from relscope.core.colormap import ColorMap
from relscope.core.data.tokens import TokenInputs
from relscope.core.errors import HeatmapError
from relscope.core.heatmap_png import write_bytes_atomic
from relscope.core.token_html import render_token_html


def token_rows(handle: h5py.File, source: str, inputs: TokenInputs) -> np.ndarray:
    """The data sample of each attribution row, checked against ``inputs`` (count, length, ids)."""
    attribution = handle["attribution"]
    where = f"{source}:attribution"
    if not isinstance(attribution, h5py.Dataset) or attribution.ndim != 2:
        shape = getattr(attribution, "shape", "a group")
        raise HeatmapError(f"{where}: token relevance must be (N, T), got {shape}")
    rows, length = (int(v) for v in attribution.shape)
    data = str(inputs.path)
    if length != inputs.length:
        raise HeatmapError(
            f"{where}: {length} positions per row, but {data} holds sequences of {inputs.length}"
        )
    if "index" in handle:
        samples = np.asarray(handle["index"][()], dtype=np.int64).reshape(-1)
        if len(samples) != rows:
            raise HeatmapError(f"{source}:index has {len(samples)} entries for {rows} rows")
        outside = samples[(samples < 0) | (samples >= len(inputs))]
        if outside.size:
            raise HeatmapError(
                f"{source}:index names sample {int(outside[0])}, but {data} holds "
                f"{len(inputs)} samples"
            )
    elif rows != len(inputs):
        raise HeatmapError(
            f"{data}: holds {len(inputs)} samples but {where} has {rows} rows "
            "(expected one row per sample, or an 'index' dataset)"
        )
    else:
        samples = np.arange(rows, dtype=np.int64)
    if "input_ids" in handle:
        stored = handle["input_ids"]
        if stored.shape != attribution.shape:
            raise HeatmapError(
                f"{source}:input_ids has shape {stored.shape}, expected {attribution.shape}"
            )
    return samples


def write_token_heatmaps(
    handle: h5py.File,
    source: str,
    data: str | os.PathLike[str],
    out: Path,
    cmap: ColorMap,
    mode: str = "symmetric",
    rows: Sequence[int] | None = None,
) -> list[Path]:
    """Write ``tokens-<row>.html`` in ``out`` for ``rows`` (default all) of the open attribution
    file ``handle``; returns the paths. Nothing is written when any check fails."""
    inputs = TokenInputs(data)
    try:
        samples = token_rows(handle, source, inputs)
        selected = list(range(len(samples)) if rows is None else rows)
        pages = [_page(handle, source, inputs, row, int(samples[row])) for row in selected]
        for row, (_, values) in zip(selected, pages):  # checked before anything is written
            if not np.isfinite(values).all():
                raise HeatmapError(f"{source}:attribution row {row} holds non-finite values")
        out.mkdir(parents=True, exist_ok=True)
        width = max(6, len(str(len(samples) - 1)))
        written = []
        for row, (tokens, values) in zip(selected, pages):
            title = f"{Path(source).name} · row {row} · sample {int(samples[row])}"
            page = render_token_html(tokens, values, cmap, mode=mode, title=title)
            written.append(
                write_bytes_atomic(out / f"tokens-{row:0{width}d}.html", page.encode("utf-8"))
            )
        return written
    finally:
        inputs.close()


def _page(
    handle: h5py.File, source: str, inputs: TokenInputs, row: int, sample: int
) -> tuple[list[str], np.ndarray]:
    """The unmasked tokens of ``row`` and their relevance (ids checked against the run's)."""
    ids = inputs.token_ids(sample)
    if "input_ids" in handle and not np.array_equal(handle["input_ids"][row], ids):
        raise HeatmapError(
            f"{source}:input_ids row {row} differs from sample {sample} of {inputs.path}: "
            "not the token data this attribution was computed on"
        )
    mask = inputs.mask(sample)
    values = np.asarray(handle["attribution"][row], dtype=np.float64)[mask]
    return [inputs.vocabulary[i] for i in ids[mask].tolist()], values
