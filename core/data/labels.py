"""The ``label`` column of input and attribution files, in every accepted form, as label lists.

Forms: (N,) integers; (N, K) n-hot or bool; a group of per-sample scalars or bool vectors.
"""

from __future__ import annotations

from collections.abc import Sequence

import attrs
import h5py
import numpy as np

from relscope.core.data.hdf5 import member_names
from relscope.core.data.label_map import LabelMap
from relscope.core.errors import DataFormatError


@attrs.frozen
class Labels:
    """Per-row label lists plus the form they were stored in (single index or n-hot of width K)."""

    rows: tuple[tuple[int, ...], ...]
    multi_label: bool = False
    width: int | None = None

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, row: int) -> list[int]:
        return list(self.rows[row])

    def check(self, label_map: LabelMap, source: str, key: str = "label") -> None:
        """Every label must be a class of ``label_map``; else one error naming file, key and row."""
        known = set(label_map.indices)
        for row, labels in enumerate(self.rows):
            for label in labels:
                if label not in known:
                    raise DataFormatError(
                        f"{source}: key {key!r} row {row} holds label {label}, "
                        f"which is not in the label map {label_map.source}"
                    )

    def array(self, rows: Sequence[int] | None = None) -> np.ndarray:
        """The stored form for ``rows`` (all by default): (n,) int64, or (n, K) bool when n-hot."""
        picked = self.rows if rows is None else [self.rows[r] for r in rows]
        return labels_array(picked, self.multi_label, self.width)


def labels_array(rows: Sequence[Sequence[int]], multi_label: bool, width: int | None) -> np.ndarray:
    """Label lists -> (n,) int64 (one label each) or (n, width) bool n-hot rows."""
    if not multi_label:
        if any(len(labels) != 1 for labels in rows):
            raise ValueError("single-label rows must hold exactly one label each")
        return np.asarray([labels[0] for labels in rows], dtype=np.int64).reshape(len(rows))
    if width is None:
        raise ValueError("n-hot labels need a width")
    out = np.zeros((len(rows), width), dtype=bool)
    for row, labels in enumerate(rows):
        out[row, list(labels)] = True
    return out


def _n_hot(vector: np.ndarray, source: str, where: str) -> tuple[int, ...]:
    if vector.dtype != bool and not np.isin(vector, (0, 1)).all():
        raise DataFormatError(f"{source}: {where} must be n-hot (0/1 or bool values)")
    return tuple(int(i) for i in np.flatnonzero(vector))


def _check_integer(values: np.ndarray, source: str, where: str) -> None:
    if not (np.issubdtype(values.dtype, np.integer) or values.dtype == bool):
        raise DataFormatError(f"{source}: {where} must hold integers, got dtype {values.dtype}")


def read_labels(node: h5py.Dataset | h5py.Group, source: str, key: str = "label") -> Labels:
    """Read the whole label column ``node`` of file ``source`` into a Labels object."""
    if isinstance(node, h5py.Group):
        rows: list[tuple[int, ...]] = []
        widths: set[int] = set()
        scalars = 0
        for name in member_names(node):
            value = np.asarray(node[name][()])
            where = f"key '{key}/{name}'"
            _check_integer(value, source, where)
            if value.ndim == 0:
                rows.append((int(value),))
                scalars += 1
            elif value.ndim == 1:
                rows.append(_n_hot(value, source, where))
                widths.add(int(value.shape[0]))
            else:
                raise DataFormatError(f"{source}: {where} must be a scalar or a vector")
        if scalars and widths:
            raise DataFormatError(f"{source}: key {key!r} mixes scalar and n-hot labels")
        if len(widths) > 1:
            raise DataFormatError(f"{source}: key {key!r} mixes n-hot vectors of lengths {widths}")
        return Labels(tuple(rows), bool(widths), widths.pop() if widths else None)
    values = node[()]
    where = f"key {key!r}"
    _check_integer(values, source, where)
    if values.ndim == 1:
        return Labels(tuple((int(v),) for v in values))
    if values.ndim == 2:
        return Labels(
            tuple(_n_hot(row, source, where) for row in values), True, int(values.shape[1])
        )
    raise DataFormatError(
        f"{source}: {where} must be (N,) integers or (N, K) n-hot, got {values.shape}"
    )
