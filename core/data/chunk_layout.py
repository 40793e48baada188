"""Where the chunks of one chunked HDF5 dataset lie, worked out once per dataset.

Reading a chunk row from its raw chunks needs the dataset's filters, its chunk grid and, for
every chunk of a row, the part of a block it fills. h5py answers each of these with a call that
costs microseconds (the filter pipeline some 30 us), and a row of ViRelAy's layout has 32 chunks:
asked per chunk, they were a quarter of a block's decode, all of it holding the GIL.
"""

from __future__ import annotations

import itertools

import h5py
import numpy as np

#: the filters a chunk row can be decoded through here (others fall back to h5py's reading)
DECODABLE = {h5py.h5z.FILTER_DEFLATE, h5py.h5z.FILTER_SHUFFLE}


def decodable_filters(dataset: h5py.Dataset) -> list[int] | None:
    """The dataset's filter codes in pipeline order, or None when it cannot be decoded here."""
    if dataset.chunks is None or dataset.is_virtual:
        return None
    if dataset.dtype.kind not in "biuf" or dataset.dtype.subdtype is not None:
        return None
    plist = dataset.id.get_create_plist()
    codes = [plist.get_filter(i)[0] for i in range(plist.get_nfilters())]
    return codes if set(codes) <= DECODABLE else None


class ChunkLayout:
    """A chunked dataset's filters, shape, dtype and chunk grid, and for each chunk of a row its
    corner (``chunk``'s trailing coordinates), the slices of a block it fills (``targets``) and
    the slices of the chunk that fill them (``fits``)."""

    def __init__(self, dataset: h5py.Dataset) -> None:
        self.codes = decodable_filters(dataset)
        self.shape = tuple(dataset.shape)
        self.dtype = dataset.dtype
        self.chunk = tuple(dataset.chunks) if dataset.chunks is not None else None
        self.corners: list[tuple[int, ...]] = []
        self.targets: list[tuple[slice, ...]] = []
        self.fits: list[tuple[slice, ...]] = []
        self.row_bytes = self.chunk_bytes = 0
        if self.chunk is None:
            return
        grid = (range(0, size, step) for size, step in zip(self.shape[1:], self.chunk[1:]))
        for corner in itertools.product(*grid):
            target = tuple(
                slice(at, min(at + step, size))
                for at, step, size in zip(corner, self.chunk[1:], self.shape[1:])
            )
            self.corners.append(corner)
            self.targets.append((slice(None), *target))
            self.fits.append(tuple(slice(0, part.stop - part.start) for part in target))
        self.row_bytes = int(np.prod(self.chunk[1:], dtype=np.int64)) * self.dtype.itemsize
        self.chunk_bytes = self.row_bytes * self.chunk[0]

    @property
    def row_prefix_decodable(self) -> bool:
        """True when a chunk's rows are stored one after another in one deflate stream (deflate
        alone, no shuffle): row r of a chunk then needs only the stream's first r + 1 rows."""
        return self.codes == [h5py.h5z.FILTER_DEFLATE]
