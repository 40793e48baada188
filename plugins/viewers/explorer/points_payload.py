"""The points of one analysis view, as JSON or as a compact binary payload of typed arrays.

Binary layout (little endian): ``b"RSPT"``, uint32 header length, a UTF-8 JSON header padded to 8
bytes, then each array at the 8-byte aligned offset the header's ``arrays`` list gives
(``{name, dtype, offset, count}``), so a browser wraps them in typed arrays without copying.
"""

from __future__ import annotations

import json
import struct
from typing import Any

import attrs
import numpy as np

MAGIC = b"RSPT"
_ALIGN = 8


@attrs.frozen
class PointsView:
    """Dataset index, cluster, label, prediction and 2-D coordinates of the M points of a view."""

    meta: dict[str, Any]
    index: np.ndarray
    cluster: np.ndarray
    label: np.ndarray
    prediction: np.ndarray
    x: np.ndarray
    y: np.ndarray
    eigenvalues: np.ndarray | None

    def columns(self) -> dict[str, tuple[np.ndarray, str]]:
        """The per-point arrays and their little-endian wire dtypes."""
        return {
            "index": (self.index, "<i4"),
            "cluster": (self.cluster, "<i4"),
            "label": (self.label, "<i4"),
            "prediction": (self.prediction, "<i4"),
            "x": (self.x, "<f4"),
            "y": (self.y, "<f4"),
        }

    def arrays(self) -> dict[str, np.ndarray]:
        """The per-point arrays converted to their wire dtypes."""
        return {
            name: np.ascontiguousarray(values, dtype=dtype)
            for name, (values, dtype) in self.columns().items()
        }

    def header(self) -> dict[str, Any]:
        """Everything but the per-point arrays."""
        eig = None if self.eigenvalues is None else [float(v) for v in self.eigenvalues]
        return {**self.meta, "count": int(self.index.shape[0]), "eigenvalues": eig}

    def to_json(self) -> bytes:
        """The JSON form: columns of plain numbers, coordinates as ``[[x, y], ...]``."""
        document = self.header()
        arrays = self.arrays()
        for name in ("index", "cluster", "label", "prediction"):
            document[name] = arrays[name].tolist()
        document["coordinates"] = np.stack([arrays["x"], arrays["y"]], axis=1).tolist()
        return json.dumps(document, separators=(",", ":")).encode()

    def to_binary(self) -> bytes:
        """The binary form described in the module docstring (one buffer, filled in place)."""
        header = self.header()
        count = int(self.index.shape[0])
        layout = [(name, np.dtype(dtype)) for name, (_, dtype) in self.columns().items()]
        # the offsets depend on the header's length and the header lists the offsets: size the
        # header with placeholder offsets of the widest form, then pad the real one to that size
        placeholder = [
            {"name": name, "dtype": dtype.name, "offset": 10**12 - 1, "count": count}
            for name, dtype in layout
        ]
        length = len(json.dumps({**header, "arrays": placeholder}, separators=(",", ":")))
        padded = length + (-(8 + length) % _ALIGN)
        offset = 8 + padded
        specs = []
        for name, dtype in layout:
            specs.append({"name": name, "dtype": dtype.name, "offset": offset, "count": count})
            nbytes = count * dtype.itemsize
            offset += nbytes + (-nbytes % _ALIGN)
        text = json.dumps({**header, "arrays": specs}, separators=(",", ":")).encode()
        buffer = bytearray(offset)
        buffer[:8] = MAGIC + struct.pack("<I", padded)
        buffer[8 : 8 + padded] = text + b" " * (padded - len(text))
        columns = self.columns()
        for spec, (name, dtype) in zip(specs, layout):
            target = np.frombuffer(buffer, dtype=dtype, count=count, offset=spec["offset"])
            np.copyto(target, columns[name][0], casting="unsafe")
        return bytes(buffer)


def decode_binary(payload: bytes) -> dict[str, Any]:
    """Parse a binary payload back into its header and numpy arrays (used by tests and tools)."""
    if payload[:4] != MAGIC:
        raise ValueError("not a relscope points payload (bad magic)")
    (length,) = struct.unpack("<I", payload[4:8])
    header = json.loads(payload[8 : 8 + length])
    result = {key: value for key, value in header.items() if key != "arrays"}
    for spec in header["arrays"]:
        dtype = np.dtype(spec["dtype"]).newbyteorder("<")
        result[spec["name"]] = np.frombuffer(
            payload, dtype=dtype, count=spec["count"], offset=spec["offset"]
        )
    return result
