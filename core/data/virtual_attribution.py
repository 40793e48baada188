"""Join the shard files of a distributed run into one attribution file of HDF5 virtual datasets.

Each key (``attribution``, ``prediction``, ``label`` and, when a single-process run would write
it, ``index``) becomes a virtual dataset whose rows are the run's rows in single-process order,
mapped onto the shards: one strided block selection per shard (its full batches sit every
``W * B`` rows) plus one for the run's short last batch. No attribution byte is copied, so
joining costs the same for 1 000 or 10 000 000 samples; every HDF5 >= 1.10 reader (h5py, hence
ViRelAy and the relscope explorer) reads the file like a plain one. The shards are referenced by
paths relative to the joined file, which HDF5 resolves against the file's own folder: keep the
``.shards`` folder beside it (readers here check that and name a missing shard).
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs
import h5py

from relscope.core.data.atomic import atomic_path
from relscope.core.errors import DataFormatError
from relscope.core.runs.shards import Shard

#: datasets of an attribution file, in the order they are joined
KEYS = ("attribution", "prediction", "label", "index")


@attrs.frozen
class RowBlocks:
    """``count`` blocks of ``block`` rows: output rows ``start + i*stride``, shard rows from
    ``source_start`` on, back to back."""

    start: int
    stride: int
    count: int
    block: int
    source_start: int


def shard_row_blocks(shard: Shard, samples: int, batch_size: int) -> list[RowBlocks]:
    """Where the rows of ``shard``'s file go in a run of ``samples`` rows: its full batches as
    one strided selection, then the run's short last batch if it is this shard's."""
    batches = math.ceil(samples / batch_size)
    numbers = shard.batch_numbers(samples, batch_size)
    last = samples - (batches - 1) * batch_size
    short = last < batch_size and len(numbers) > 0 and numbers[-1] == batches - 1
    full = len(numbers) - (1 if short else 0)
    blocks = []
    if full:
        stride = shard.world_size * batch_size
        blocks.append(RowBlocks(shard.rank * batch_size, stride, full, batch_size, 0))
    if short:
        blocks.append(RowBlocks((batches - 1) * batch_size, last, 1, last, full * batch_size))
    return blocks


def _select(
    space: h5py.h5s.SpaceID, blocks: RowBlocks, rest: tuple[int, ...], source: bool
) -> h5py.h5s.SpaceID:
    """Select ``blocks``' rows in ``space``: the output side (strided) or the shard side."""
    zeros, ones = (0,) * len(rest), (1,) * len(rest)
    start = blocks.source_start if source else blocks.start
    if source:  # back to back: one block of count*block rows
        space.select_hyperslab(
            (start, *zeros), (1, *ones), (1, *ones), (blocks.count * blocks.block, *rest)
        )
    else:
        space.select_hyperslab(
            (start, *zeros), (blocks.count, *ones), (blocks.stride, *ones), (blocks.block, *rest)
        )
    return space


def write_virtual_attribution(
    out: str | os.PathLike[str],
    shards: Sequence[tuple[Shard, Path]],
    samples: int,
    batch_size: int,
    with_index: bool,
    attributes: Mapping[str, Any] | None = None,
    extra_keys: Sequence[str] = (),
) -> Path:
    """Write ``out`` (atomically) as virtual datasets over the ``(shard, file)`` pairs of a run of
    ``samples`` rows in batches of ``batch_size``; shards without rows may be left out.
    ``extra_keys`` are mapped too (a token run's ``input_ids``)."""
    out = Path(out)
    keys = (*(KEYS if with_index else KEYS[:3]), *extra_keys)
    layouts: dict[str, tuple[h5py.h5t.TypeID, tuple[int, ...]]] = {}
    plans: list[tuple[Path, int, list[RowBlocks]]] = []
    covered = 0
    for shard, path in shards:
        blocks = shard_row_blocks(shard, samples, batch_size)
        rows = sum(b.count * b.block for b in blocks)
        covered += rows
        try:
            file = h5py.File(path, "r")
        except OSError as exc:
            raise DataFormatError(f"{path}: shard file unreadable ({exc})") from None
        with file:
            for key in keys:
                if key not in file or not isinstance(file[key], h5py.Dataset):
                    raise DataFormatError(f"{path}: shard file has no dataset {key!r}")
                dataset = file[key]
                if dataset.shape[0] != rows:
                    raise DataFormatError(
                        f"{path}: key {key!r} has {dataset.shape[0]} rows, expected {rows} "
                        f"for rank {shard.rank} of {shard.world_size}"
                    )
                layout = (dataset.id.get_type(), dataset.shape[1:])
                known = layouts.setdefault(key, layout)
                if known[1] != layout[1] or not known[0].equal(layout[0]):
                    raise DataFormatError(
                        f"{path}: key {key!r} is {dataset.dtype}{list(dataset.shape[1:])}, "
                        "unlike the other shards"
                    )
        plans.append((path, rows, blocks))
    if covered != samples:
        raise DataFormatError(f"{out}: the shards hold {covered} rows, expected {samples}")
    with atomic_path(out) as temp, h5py.File(temp, "w") as handle:
        for key, value in (attributes or {}).items():
            handle.attrs[key] = value
        for key in keys:
            type_id, rest = layouts[key]
            shape = (samples, *rest)
            plist = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
            for path, rows, blocks_list in plans:
                name = os.path.relpath(path, out.parent).encode()
                for blocks in blocks_list:
                    target = _select(h5py.h5s.create_simple(shape), blocks, rest, source=False)
                    source = _select(
                        h5py.h5s.create_simple((rows, *rest)), blocks, rest, source=True
                    )
                    plist.set_virtual(target, name, key.encode(), source)
            h5py.h5d.create(
                handle.id, key.encode(), type_id, h5py.h5s.create_simple(shape), dcpl=plist
            )
    return out


def missing_virtual_sources(file: h5py.File) -> list[str]:
    """Source files of the open ``file``'s virtual datasets that do not exist (relative names are
    looked up beside the file, as HDF5 does); empty for a plain file."""
    if os.environ.get("HDF5_VDS_PREFIX"):  # HDF5 looks elsewhere first: trust it
        return []
    folder = Path(file.filename).parent
    missing: list[str] = []
    for node in file.values():
        if not isinstance(node, h5py.Dataset) or not node.is_virtual:
            continue
        for source in node.virtual_sources():
            if source.file_name == "." or source.file_name in missing:
                continue
            where = Path(source.file_name)
            if not (where if where.is_absolute() else folder / where).is_file():
                missing.append(source.file_name)
    return missing
