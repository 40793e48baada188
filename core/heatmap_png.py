"""PNG encoding for heatmaps: 8-bit palette PNGs whose palette can be swapped in place, plain images.

A heatmap PNG stores colour-map *indices* (0…255) and the colour map as its palette (PLTE chunk),
so recolouring rewrites only PLTE (and our tEXt note), leaving the image data byte-for-byte intact.
"""

from __future__ import annotations

import io
import os
import struct
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from relscope.core.colormap import ColorMap
from relscope.core.data.atomic import atomic_path
from relscope.core.errors import HeatmapError

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
#: tEXt key under which relscope notes the colour map of a heatmap PNG
COLORMAP_KEY = "relscope:colormap"
_COLOR_TYPES = {0: "grayscale", 2: "RGB", 3: "palette", 4: "grayscale+alpha", 6: "RGBA"}


def _as_index_array(indices: Any) -> np.ndarray:
    array = np.asarray(indices)
    if array.ndim != 2 or array.shape[0] == 0 or array.shape[1] == 0:
        raise HeatmapError(f"heatmap indices must be a non-empty (H, W) array, got {array.shape}")
    if array.dtype != np.uint8:
        if not np.issubdtype(array.dtype, np.integer) or array.min() < 0 or array.max() > 255:
            raise HeatmapError(
                f"heatmap indices must be integers in 0..255, got dtype {array.dtype}"
            )
        array = array.astype(np.uint8)
    return np.ascontiguousarray(array)


def _colormap_note(cmap: ColorMap) -> str:
    return f"{cmap.name} {cmap.spec}" if cmap.spec and cmap.spec != cmap.name else cmap.name


def encode_palette_png(
    indices: Any, cmap: ColorMap, extra_text: dict[str, str] | None = None
) -> bytes:
    """An 8-bit palette PNG of ``indices`` (H, W) with ``cmap``'s 256 colours as its palette."""
    from PIL import Image, PngImagePlugin

    array = _as_index_array(indices)
    height, width = array.shape
    image = Image.frombuffer("P", (width, height), array.tobytes(), "raw", "P", 0, 1)
    image.putpalette(cmap.palette(), rawmode="RGB")
    info = PngImagePlugin.PngInfo()
    info.add_text(COLORMAP_KEY, _colormap_note(cmap))
    for key, value in (extra_text or {}).items():
        info.add_text(key, value)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", pnginfo=info, optimize=False, bits=8)
    return buffer.getvalue()


def encode_rgb_png(pixels: np.ndarray) -> bytes:
    """A PNG of a uint8 (H, W), (H, W, 3) or (H, W, 4) array."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(pixels)).save(buffer, format="PNG")
    return buffer.getvalue()


def _read_source(png: bytes | bytearray | str | os.PathLike[str]) -> tuple[bytes, str]:
    if isinstance(png, (bytes, bytearray)):
        return bytes(png), "PNG data"
    path = Path(png)
    try:
        return path.read_bytes(), str(path)
    except OSError as exc:
        raise HeatmapError(f"{path}: cannot read ({exc.strerror or exc})") from None


def _chunks(data: bytes, label: str) -> list[tuple[bytes, bytes]]:
    """The ``(type, payload)`` chunks of a PNG, checking signature, lengths and CRCs."""
    if not data.startswith(PNG_SIGNATURE):
        raise HeatmapError(f"{label}: not a PNG file (bad signature)")
    chunks: list[tuple[bytes, bytes]] = []
    offset = len(PNG_SIGNATURE)
    while offset < len(data):
        if offset + 12 > len(data):
            raise HeatmapError(f"{label}: truncated PNG (chunk header at byte {offset})")
        (length,) = struct.unpack(">I", data[offset : offset + 4])
        kind = data[offset + 4 : offset + 8]
        payload = data[offset + 8 : offset + 8 + length]
        crc_at = offset + 8 + length
        if crc_at + 4 > len(data):
            raise HeatmapError(f"{label}: truncated PNG (chunk {kind!r} at byte {offset})")
        (crc,) = struct.unpack(">I", data[crc_at : crc_at + 4])
        if zlib.crc32(kind + payload) != crc:
            raise HeatmapError(f"{label}: corrupt PNG (CRC mismatch in chunk {kind!r})")
        chunks.append((kind, payload))
        offset = crc_at + 4
        if kind == b"IEND":
            break
    if not chunks or chunks[0][0] != b"IHDR" or chunks[-1][0] != b"IEND":
        raise HeatmapError(f"{label}: incomplete PNG (IHDR or IEND chunk missing)")
    return chunks


def _chunk_bytes(kind: bytes, payload: bytes) -> bytes:
    return (
        struct.pack(">I", len(payload))
        + kind
        + payload
        + struct.pack(">I", zlib.crc32(kind + payload))
    )


def _check_palette_png(chunks: list[tuple[bytes, bytes]], label: str) -> None:
    header = chunks[0][1]
    if len(header) != 13:
        raise HeatmapError(f"{label}: corrupt PNG header")
    bit_depth, color_type = header[8], header[9]
    if color_type != 3:
        kind = _COLOR_TYPES.get(color_type, f"colour type {color_type}")
        raise HeatmapError(
            f"{label}: a {kind} PNG, not an 8-bit palette PNG; only heatmaps written by "
            "relscope (palette of colour-map indices) can be recoloured"
        )
    if bit_depth != 8:
        raise HeatmapError(
            f"{label}: a {bit_depth}-bit palette PNG; recolouring needs 8-bit indices (0..255)"
        )


def recolor_png(png: bytes | bytearray | str | os.PathLike[str], cmap: ColorMap) -> bytes:
    """The heatmap PNG ``png`` (bytes or path) with its palette replaced by ``cmap``.

    Only the PLTE chunk and our colour-map note change; the pixel indices are untouched.
    """
    data, label = _read_source(png)
    chunks = _chunks(data, label)
    _check_palette_png(chunks, label)
    note_key = COLORMAP_KEY.encode("latin-1") + b"\x00"
    note = _chunk_bytes(b"tEXt", note_key + _colormap_note(cmap).encode("latin-1", "replace"))
    out = [PNG_SIGNATURE]
    wrote_note = False
    for kind, payload in chunks:
        if kind == b"PLTE":
            out.append(_chunk_bytes(b"PLTE", cmap.lut.tobytes()))
            continue
        if kind in (b"tEXt", b"zTXt", b"iTXt") and payload.startswith(note_key):
            continue  # replaced by the new note below
        if kind == b"tRNS":
            continue  # transparency belonged to the old palette
        if kind == b"IDAT" and not wrote_note:
            out.append(note)
            wrote_note = True
        out.append(_chunk_bytes(kind, payload))
    return b"".join(out)


def read_palette_png(
    png: bytes | bytearray | str | os.PathLike[str],
) -> tuple[np.ndarray, np.ndarray, dict[str, str]]:
    """``(indices (H, W) uint8, palette (256, 3) uint8, text chunks)`` of an 8-bit palette PNG."""
    from PIL import Image

    data, label = _read_source(png)
    _check_palette_png(_chunks(data, label), label)
    with Image.open(io.BytesIO(data)) as image:
        image.load()
        indices = np.asarray(image, dtype=np.uint8).copy()
        flat = np.zeros(768, dtype=np.uint8)
        values = image.getpalette() or []
        flat[: len(values)] = values[:768]
        text = {str(k): str(v) for k, v in getattr(image, "text", {}).items()}
    return indices, flat.reshape(256, 3), text


def write_bytes_atomic(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``path`` through a temporary file in the same folder and ``os.replace``."""
    with atomic_path(path) as temp:
        temp.write_bytes(data)
    return Path(path)
