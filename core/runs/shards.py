"""How a distributed attribution run is cut into shards, and where each shard's file lives.

The run's index list is cut into the batches a single process would use (batch ``k`` holds
positions ``k*B .. k*B+B-1``) and rank ``r`` of ``W`` takes batches ``r, r+W, r+2W, ...``:
DistributedSampler's round robin, at batch granularity and without padding duplicates (a rank may
get one batch fewer, and only the run's last batch may be short). Keeping the single-process
batches whole is what makes a distributed run equal to a single-process one row for row: every
batch holds the same samples and is seeded with its run-wide number.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from pathlib import Path

import attrs

#: shard files inside ``<out>.shards/``: rank and world size, zero-padded
SHARD_FILE = re.compile(r"^shard-(\d{5})-of-(\d{5})\.h5$")


def shards_folder(out: str | Path) -> Path:
    """The folder beside ``out`` that holds its shard files (``attribution.h5.shards``)."""
    out = Path(out)
    return out.with_name(out.name + ".shards")


@attrs.frozen
class Shard:
    """Rank ``rank``'s share of a run over ``world_size`` processes."""

    rank: int = attrs.field()
    world_size: int = attrs.field()

    @world_size.validator
    def _check(self, attribute: object, value: int) -> None:
        if value < 1 or not 0 <= self.rank < value:
            raise ValueError(f"rank {self.rank} is outside a world of {value} processes")

    def batch_numbers(self, samples: int, batch_size: int) -> range:
        """Run-wide numbers of this shard's batches, in the order it attributes them."""
        return range(self.rank, math.ceil(samples / batch_size), self.world_size)

    def indices(self, indices: Sequence[int], batch_size: int) -> list[int]:
        """This shard's dataset indices: its batches' samples, batch after batch."""
        chosen: list[int] = []
        for number in self.batch_numbers(len(indices), batch_size):
            chosen.extend(indices[number * batch_size : (number + 1) * batch_size])
        return chosen

    def path(self, out: str | Path) -> Path:
        """This shard's attribution file, ``<out>.shards/shard-RRRRR-of-WWWWW.h5``."""
        return shards_folder(out) / f"shard-{self.rank:05d}-of-{self.world_size:05d}.h5"


def foreign_shard_files(out: str | Path, world_size: int) -> list[Path]:
    """Shard files (and their ``.partial`` folders) in ``out``'s folder from runs with another
    world size: left over from an earlier run, never part of the current one."""
    folder = shards_folder(out)
    if not folder.is_dir():
        return []
    found = []
    for entry in sorted(folder.iterdir()):
        name = entry.name.removesuffix(".partial")
        match = SHARD_FILE.match(name)
        if match and int(match.group(2)) != world_size:
            found.append(entry)
    return found
