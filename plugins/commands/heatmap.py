"""``relscope heatmap``: palette PNGs (and a grid) from an attribution HDF5 file."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np

from relscope.core import hookimpl
from relscope.core.colormap import get_colormap
from relscope.core.errors import HeatmapError
from relscope.core.heatmap import MODES, heatmap_indices, render_grid_png, render_palette_png
from relscope.core.heatmap_png import write_bytes_atomic


@hookimpl
def register_commands(subparsers: Any) -> None:
    """Declare ``relscope heatmap FILE.h5 --out DIR [--cmap] [--mode] [--indices] [--grid]``."""
    parser = subparsers.add_parser(
        "heatmap",
        help="write one 8-bit palette PNG per attribution (recolourable later)",
        description="Sum each attribution over channels, normalise it and write it as a palette "
        "PNG named heatmap-<row>.png; rows are positions along the first axis of 'attribution'.",
    )
    parser.add_argument("attribution", type=Path, help="HDF5 file with an 'attribution' dataset")
    parser.add_argument("--out", type=Path, required=True, help="output folder (created)")
    parser.add_argument("--cmap", default="bwr", help="colour-map name or spec (default: bwr)")
    parser.add_argument("--mode", choices=MODES, default="symmetric", help="normalisation")
    parser.add_argument(
        "--indices",
        nargs="+",
        default=None,
        metavar="ROW",
        help="rows to render: numbers or ranges like 4-9 (default: all)",
    )
    parser.add_argument("--grid", type=Path, default=None, help="also write a grid PNG here")
    parser.add_argument("--ncols", type=int, default=None, help="grid columns (default: sqrt)")
    parser.set_defaults(func=run)


def parse_rows(items: list[str], count: int, source: str) -> list[int]:
    """Row numbers from ``["3", "5-7"]``, each checked against ``count`` rows."""
    rows: list[int] = []
    for item in items:
        for part in item.split(","):
            part = part.strip()
            if not part:
                continue
            try:
                if "-" in part[1:]:
                    start, stop = (int(x) for x in part.split("-", 1))
                    rows.extend(range(start, stop + 1))
                else:
                    rows.append(int(part))
            except ValueError:
                raise HeatmapError(
                    f"--indices: bad row {part!r}, expected a number or a range like 4-9"
                ) from None
    for row in rows:
        if not 0 <= row < count:
            raise HeatmapError(f"--indices: row {row} is outside {source} (0..{count - 1})")
    return rows


def _channels_first(sample: np.ndarray) -> np.ndarray:
    """(C, H, W) from a sample stored as (H, W), (C, H, W) or (H, W, C) (smallest axis first = C)."""
    if sample.ndim == 2:
        return sample[None]
    if sample.ndim == 3 and sample.shape[0] != min(sample.shape):
        return np.moveaxis(sample, -1, 0)
    return sample


class AttributionRows:
    """The per-sample attributions of one HDF5 file: a (N, ...) dataset or a group per sample."""

    def __init__(self, handle: Any, source: str) -> None:
        import h5py

        if "attribution" not in handle:
            raise HeatmapError(f"{source}: no 'attribution' dataset or group")
        node = handle["attribution"]
        self.source = f"{source}:attribution"
        if isinstance(node, h5py.Group):
            self._items = [node[name] for name in sorted(node)]
            self._stacked = None
        else:
            if node.ndim not in (3, 4):
                raise HeatmapError(
                    f"{self.source}: shape {node.shape}, expected (N, C, H, W) or (N, H, W, C)"
                )
            self._items = []
            self._stacked = node
        self.index = handle["index"][()] if "index" in handle else None

    def __len__(self) -> int:
        return len(self._stacked) if self._stacked is not None else len(self._items)

    def __getitem__(self, row: int) -> np.ndarray:
        data = self._stacked[row] if self._stacked is not None else self._items[row][()]
        sample = np.asarray(data, dtype=np.float64)
        if sample.ndim not in (2, 3):
            raise HeatmapError(f"{self.source}: row {row} has shape {sample.shape}")
        return _channels_first(sample)


def run(args: argparse.Namespace) -> int:
    """Render the selected rows as palette PNGs in ``--out`` (and the grid), atomically."""
    import h5py

    cmap = get_colormap(args.cmap)
    source = str(args.attribution)
    if not args.attribution.is_file():
        raise HeatmapError(f"{source}: no such file")
    try:
        handle = h5py.File(args.attribution, "r")
    except OSError as exc:
        raise HeatmapError(f"{source}: not a readable HDF5 file ({exc})") from None
    with handle:
        rows_source = AttributionRows(handle, source)
        count = len(rows_source)
        if count == 0:
            raise HeatmapError(f"{rows_source.source}: holds no attributions")
        rows = parse_rows(args.indices, count, rows_source.source) if args.indices else range(count)
        args.out.mkdir(parents=True, exist_ok=True)
        width = max(6, len(str(count - 1)))
        tiles = []
        for row in rows:
            indices = heatmap_indices(rows_source[row], args.mode)
            text = {"relscope:mode": args.mode, "relscope:row": str(row)}
            if rows_source.index is not None:
                text["relscope:index"] = str(int(rows_source.index[row]))
            png = render_palette_png(indices, cmap, text=text)
            write_bytes_atomic(args.out / f"heatmap-{row:0{width}d}.png", png)
            if args.grid is not None:
                tiles.append(indices)
    if args.grid is not None:
        write_bytes_atomic(args.grid, render_grid_png(tiles, cmap, ncols=args.ncols))
    grid_note = f" and grid {args.grid}" if args.grid is not None else ""
    print(f"wrote {len(rows)} heatmaps ({args.mode}, {cmap.name}) to {args.out}{grid_note}")
    return 0
