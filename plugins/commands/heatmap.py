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
        "PNG named heatmap-<row>.png; rows are positions along the first axis of 'attribution'. "
        "Token attributions (N, T) with --data become HTML pages of coloured text instead.",
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
    parser.add_argument(
        "--data",
        type=Path,
        default=None,
        help="token attributions (N, T): the token data file they were computed on; writes one "
        "HTML page per row (tokens-<row>.html) with each token coloured by its relevance",
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


def run(args: argparse.Namespace) -> int:
    """Render the selected rows as palette PNGs in ``--out`` (and the grid), atomically."""
    import h5py

    from relscope.core.data.attributions import AttributionRows

    cmap = get_colormap(args.cmap)
    source = str(args.attribution)
    if not args.attribution.is_file():
        raise HeatmapError(f"{source}: no such file")
    try:
        handle = h5py.File(args.attribution, "r")
    except OSError as exc:
        raise HeatmapError(f"{source}: not a readable HDF5 file ({exc})") from None
    with handle:
        if "attribution" not in handle:
            raise HeatmapError(f"{source}: no 'attribution' dataset or group")
        rows_source = AttributionRows(handle, source)
        where = f"{source}:attribution"
        count = rows_source.rows
        if count == 0:
            raise HeatmapError(f"{where}: holds no attributions")
        rows = parse_rows(args.indices, count, where) if args.indices else range(count)
        if rows_source.tokens or args.data is not None:
            return _token_pages(args, handle, source, cmap, list(rows))
        index = handle["index"][()] if "index" in handle else None
        args.out.mkdir(parents=True, exist_ok=True)
        width = max(6, len(str(count - 1)))
        tiles = []
        for row in rows:
            sample = np.asarray(rows_source.read(handle, row), dtype=np.float64)
            indices = heatmap_indices(sample, args.mode)
            text = {"relscope:mode": args.mode, "relscope:row": str(row)}
            if index is not None:
                text["relscope:index"] = str(int(index[row]))
            png = render_palette_png(indices, cmap, text=text)
            write_bytes_atomic(args.out / f"heatmap-{row:0{width}d}.png", png)
            if args.grid is not None:
                tiles.append(indices)
    if args.grid is not None:
        write_bytes_atomic(args.grid, render_grid_png(tiles, cmap, ncols=args.ncols))
    grid_note = f" and grid {args.grid}" if args.grid is not None else ""
    print(f"wrote {len(rows)} heatmaps ({args.mode}, {cmap.name}) to {args.out}{grid_note}")
    return 0


def _token_pages(args: argparse.Namespace, handle: Any, source: str, cmap: Any, rows: list) -> int:
    """Token attributions: one HTML page of coloured text per row (needs the token data file)."""
    from relscope.core.token_heatmaps import write_token_heatmaps

    if args.data is None:
        raise HeatmapError(
            f"{source}: holds token attributions (N, T); give the token data file they were "
            "computed on with --data"
        )
    if args.grid is not None:
        raise HeatmapError("--grid: token attributions are written as HTML pages, not a grid")
    written = write_token_heatmaps(handle, source, args.data, args.out, cmap, args.mode, rows)
    print(f"wrote {len(written)} token heatmaps ({args.mode}, {cmap.name}) to {args.out}")
    return 0
