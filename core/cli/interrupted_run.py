"""What a data-set command says when it is interrupted with finished batches kept."""

from __future__ import annotations

import sys
from pathlib import Path


def note_kept_batches(out: Path) -> None:
    """Name ``out``'s ``.partial`` folder and ``--resume``, if any batch was kept there."""
    partial = out.with_name(out.name + ".partial")
    if partial.exists():
        print(
            f"relscope: interrupted; finished batches are kept in {partial}, "
            "rerun the same command with --resume to continue",
            file=sys.stderr,
        )
