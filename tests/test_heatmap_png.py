"""Palette PNGs through real files: indices and palette survive, recolouring swaps only the palette."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from relscope.core.colormap import get_colormap
from relscope.core.errors import HeatmapError
from relscope.core.heatmap import (
    colormap_bar_png,
    heatmap_grid,
    image_png,
    read_palette_png,
    recolor_png,
    render_grid_png,
    render_palette_png,
)


def _indices(height: int = 9, width: int = 13) -> np.ndarray:
    return (np.arange(height * width).reshape(height, width) * 37 % 256).astype(np.uint8)


def _chunk(data: bytes, kind: bytes) -> bytes:
    offset = 8
    while offset < len(data):
        (length,) = struct.unpack(">I", data[offset : offset + 4])
        if data[offset + 4 : offset + 8] == kind:
            return data[offset + 8 : offset + 8 + length]
        offset += 12 + length
    raise AssertionError(f"no {kind!r} chunk")


def test_palette_png_round_trip_through_a_file(tmp_path):
    indices = _indices()
    cmap = get_colormap("coldnhot")
    path = tmp_path / "heatmap.png"
    path.write_bytes(render_palette_png(indices, cmap))
    with Image.open(path) as image:
        assert image.mode == "P"
        assert image.size == (13, 9)
        assert np.array_equal(np.asarray(image), indices)
        assert image.getpalette() == cmap.lut.reshape(-1).tolist()
        assert image.text["relscope:colormap"].startswith("coldnhot")
    header = _chunk(path.read_bytes(), b"IHDR")
    assert header[8] == 8 and header[9] == 3  # bit depth 8, colour type palette


def test_recolor_swaps_the_palette_and_keeps_the_pixels(tmp_path):
    indices = _indices()
    original = render_palette_png(indices, "coldnhot")
    path = tmp_path / "h.png"
    path.write_bytes(original)
    recoloured = recolor_png(path, get_colormap("bwr"))
    assert _chunk(recoloured, b"IDAT") == _chunk(original, b"IDAT")
    with Image.open(io.BytesIO(recoloured)) as image:
        assert image.mode == "P"
        assert np.array_equal(np.asarray(image), indices)
        assert image.getpalette() == get_colormap("bwr").lut.reshape(-1).tolist()
        assert image.text["relscope:colormap"].startswith("bwr")
    got_indices, palette, _ = read_palette_png(recolor_png(recoloured, get_colormap("gray")))
    assert np.array_equal(got_indices, indices)
    assert palette[:, 0].tolist() == list(range(256))


def test_recolor_rejects_non_palette_pngs(tmp_path):
    rgb = tmp_path / "photo.png"
    Image.new("RGB", (4, 4), (10, 20, 30)).save(rgb)
    with pytest.raises(HeatmapError, match=r"photo\.png: a RGB PNG, not an 8-bit palette PNG"):
        recolor_png(rgb, get_colormap("bwr"))
    four_bit = tmp_path / "four.png"
    image = Image.new("P", (4, 4))
    image.putpalette([0, 0, 0, 255, 255, 255] * 8)
    image.save(four_bit, bits=4)
    with pytest.raises(HeatmapError, match="4-bit palette PNG"):
        recolor_png(four_bit, get_colormap("bwr"))
    text = tmp_path / "notes.png"
    text.write_text("hello")
    with pytest.raises(HeatmapError, match="not a PNG file"):
        recolor_png(text, get_colormap("bwr"))
    with pytest.raises(HeatmapError, match="cannot read"):
        recolor_png(tmp_path / "missing.png", get_colormap("bwr"))


def test_recolor_detects_corruption():
    data = bytearray(render_palette_png(_indices(), "bwr"))
    data[40] ^= 0xFF  # inside the PLTE payload
    with pytest.raises(HeatmapError, match="CRC mismatch"):
        recolor_png(bytes(data), get_colormap("gray"))
    with pytest.raises(HeatmapError, match="truncated"):
        recolor_png(render_palette_png(_indices(), "bwr")[:-20], get_colormap("gray"))


def test_recolored_chunks_carry_valid_crcs():
    data = recolor_png(render_palette_png(_indices(), "bwr"), get_colormap("hot"))
    offset = 8
    while offset < len(data):
        (length,) = struct.unpack(">I", data[offset : offset + 4])
        body = data[offset + 4 : offset + 8 + length]
        (crc,) = struct.unpack(">I", data[offset + 8 + length : offset + 12 + length])
        assert zlib.crc32(body) == crc
        offset += 12 + length


def test_grid_png_is_recolourable(tmp_path):
    tiles = [np.full((2, 3), k * 60, dtype=np.uint8) for k in range(4)]
    path = tmp_path / "grid.png"
    path.write_bytes(render_grid_png(tiles, "bwr", ncols=2, padding=1))
    with Image.open(path) as image:
        assert image.mode == "P" and image.size == (7, 5)
        assert np.array_equal(np.asarray(image), heatmap_grid(tiles, 2, 1))


def test_colormap_bar_runs_low_to_high():
    indices, palette, _ = read_palette_png(colormap_bar_png("bwr", width=256, height=4))
    assert indices.shape == (4, 256)
    assert indices[0].tolist() == list(range(256))
    assert palette[0].tolist() == [0, 0, 255] and palette[255].tolist() == [255, 0, 0]


@pytest.mark.parametrize(
    ("image", "mode", "expected"),
    [
        (np.array([[[0.0, 0.5, 1.0]]]), "RGB", [[[0, 128, 255]]]),
        (np.array([[[10, 20, 30]]], dtype=np.uint8), "RGB", [[[10, 20, 30]]]),
        (np.array([[0.0, 1.0]]), "L", [[0, 255]]),
        (np.array([[[0.2], [0.4]]]), "L", [[51, 102]]),
    ],
)
def test_image_png_accepts_float_and_uint8(image, mode, expected):
    with Image.open(io.BytesIO(image_png(image))) as reopened:
        assert reopened.mode == mode
        assert np.asarray(reopened).tolist() == expected


def test_image_png_rejects_out_of_range_and_bad_shapes():
    with pytest.raises(HeatmapError, match=r"\[0, 1\]"):
        image_png(np.array([[1.5, 0.0]]))
    with pytest.raises(HeatmapError, match="C in 1, 3, 4"):
        image_png(np.zeros((3, 4, 4, 4)))


def test_image_png_takes_integer_images_and_rejects_wider_ranges():
    with Image.open(io.BytesIO(image_png(np.array([[0, 7, 255]], dtype=np.int64)))) as image:
        assert np.asarray(image).tolist() == [[0, 7, 255]]
    with pytest.raises(HeatmapError, match="0..255"):
        image_png(np.array([[0, 256]], dtype=np.int64))
