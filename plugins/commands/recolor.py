"""``relscope recolor``: swap the colour map of heatmap palette PNGs without recomputing them."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from relscope.core import hookimpl
from relscope.core.colormap import get_colormap
from relscope.core.errors import HeatmapError
from relscope.core.heatmap_png import recolor_png, write_bytes_atomic


@hookimpl
def register_commands(subparsers: Any) -> None:
    """Declare ``relscope recolor PNG... --cmap NAME_OR_SPEC [--out PATH]``."""
    parser = subparsers.add_parser(
        "recolor",
        help="give heatmap PNGs another colour map (palette swap, indices untouched)",
        description="Replace the palette of 8-bit heatmap PNGs written by relscope with another "
        "colour map; the pixel indices stay as they are.",
    )
    parser.add_argument("pngs", nargs="+", type=Path, metavar="PNG", help="heatmap palette PNG(s)")
    parser.add_argument(
        "--cmap", required=True, help="colour-map name (relscope list colormaps) or spec"
    )
    parser.add_argument(
        "--out", type=Path, default=None, help="write here instead of in place (one PNG only)"
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Recolour every PNG (checking all of them first), writing each atomically."""
    cmap = get_colormap(args.cmap)
    if args.out is not None and len(args.pngs) != 1:
        raise HeatmapError(f"--out takes one input PNG, got {len(args.pngs)}")
    recoloured = [(path, recolor_png(path, cmap)) for path in args.pngs]
    for path, data in recoloured:
        target = args.out if args.out is not None else path
        write_bytes_atomic(target, data)
        print(f"{target}: recoloured with {cmap.name}")
    return 0
