"""The colour-map language: hand-computed LUT entries, implicit positions, and every error class."""

from __future__ import annotations

import numpy as np
import pytest

from relscope.core.colormap import ColorMap, get_colormap, parse_colormap, parse_nodes
from relscope.core.errors import ColorMapError, RelscopeError, UnknownNameError


def test_bwr_ends_centre_and_midpoints_by_hand():
    lut = parse_colormap("00f,80:fff,f00").lut
    assert lut.shape == (256, 3) and lut.dtype == np.uint8
    assert lut[0x00].tolist() == [0, 0, 255]
    assert lut[0x80].tolist() == [255, 255, 255]
    assert lut[0xFF].tolist() == [255, 0, 0]
    # 0x40 is half way from 00f (at 0) to fff (at 0x80): 127.5 rounds half up to 128
    assert lut[0x40].tolist() == [128, 128, 255]
    # 0xc0: t = (192 - 128) / 127, 255 * (1 - t) = 126.496 -> 126
    assert lut[0xC0].tolist() == [255, 126, 126]


def test_two_colours_are_an_exact_ramp():
    lut = parse_colormap("000,fff").lut
    assert lut[:, 0].tolist() == list(range(256))
    assert np.array_equal(lut[:, 0], lut[:, 1]) and np.array_equal(lut[:, 1], lut[:, 2])


def test_unpositioned_colours_are_spaced_evenly():
    lut = parse_colormap("f00,0f0,00f,fff").lut  # positions 0, 85, 170, 255
    assert lut[85].tolist() == [0, 255, 0]
    assert lut[170].tolist() == [0, 0, 255]
    assert lut[42].tolist() == [129, 126, 0]  # 255 * 43 / 85 and 255 * 42 / 85
    assert lut[255].tolist() == [255, 255, 255]


def test_unpositioned_colours_between_anchors():
    # coldnhot: 00f sits half way between 0ff (00) and 000 (80) -> 0x40
    nodes = parse_nodes("0ff,00f,80:000,f00,ff0,fff")
    assert [p for p, _ in nodes][:3] == [0.0, 64.0, 128.0]
    assert nodes[3][0] == pytest.approx(128 + 127 / 3)
    lut = parse_colormap("0ff,00f,80:000,f00,ff0,fff").lut
    assert lut[0x40].tolist() == [0, 0, 255]
    assert lut[0x20].tolist() == [0, 128, 255]
    assert lut[0x80].tolist() == [0, 0, 0]


def test_equal_positions_make_a_hard_step():
    lut = parse_colormap("000,80:000,80:fff,fff").lut
    assert lut[0x7F].tolist() == [0, 0, 0]
    assert lut[0x80].tolist() == [255, 255, 255]


def test_end_colours_extend_beyond_the_outer_positions():
    lut = parse_colormap("40:f00,c0:00f").lut
    assert (lut[:0x41] == [255, 0, 0]).all()
    assert (lut[0xC0:] == [0, 0, 255]).all()
    assert lut[0x80].tolist() == [128, 0, 128]  # half way: 127.5 -> 128


def test_spelling_variants_give_the_same_lut():
    reference = parse_colormap("00f,80:fff,f00")
    assert parse_colormap(" 00F , 80:FFF , F00 ") == reference
    assert parse_colormap("0000ff,80:ffffff,ff0000") == reference


@pytest.mark.parametrize(
    ("spec", "fragment"),
    [
        ("ggg,fff", "bad colour 'ggg'"),
        ("00f,fffff", "bad colour 'fffff'"),
        ("00f,8:fff", "bad position '8'"),
        ("00f,100:fff", "bad position '100'"),
        ("00f,c0:fff,80:f00", "must not descend"),
        ("fff", "only one colour"),
        ("80:fff", "only one colour"),
        ("", "empty spec"),
        ("   ", "empty spec"),
        ("fff,,000", "empty item"),
    ],
)
def test_malformed_specs_raise_clear_errors(spec, fragment):
    with pytest.raises(ColorMapError) as info:
        parse_colormap(spec)
    assert fragment in str(info.value)
    assert isinstance(info.value, RelscopeError)


def test_error_names_the_map_and_item():
    with pytest.raises(ColorMapError, match=r"colour map 'mine', item 3: bad colour 'xyz'"):
        parse_colormap("000,fff,xyz", name="mine")


def test_lut_is_validated_and_read_only():
    with pytest.raises(ColorMapError, match=r"expected \(256, 3\)"):
        ColorMap(np.zeros((255, 3), dtype=np.uint8))
    with pytest.raises(ColorMapError, match=r"\[0, 1\]"):
        ColorMap(np.full((256, 3), 1.5))
    cmap = ColorMap(np.linspace(0.0, 1.0, 256)[:, None].repeat(3, axis=1), name="ramp")
    assert cmap.lut[255].tolist() == [255, 255, 255] and cmap.lut[1].tolist() == [1, 1, 1]
    with pytest.raises(ValueError):
        cmap.lut[0, 0] = 7


def test_colormap_colours_indices():
    cmap = parse_colormap("00f,80:fff,f00")
    colours = cmap(np.array([[0, 128], [255, 64]], dtype=np.uint8))
    assert colours.shape == (2, 2, 3)
    assert colours[1, 0].tolist() == [255, 0, 0] and colours[1, 1].tolist() == [128, 128, 255]


def test_get_colormap_prefers_registered_names():
    cmap = get_colormap("bwr")
    assert cmap.name == "bwr" and cmap.spec == "00f,80:fff,f00"
    assert cmap == parse_colormap("00f,80:fff,f00")
    assert get_colormap(cmap) is cmap


def test_get_colormap_parses_specs_and_rejects_unknown_names():
    assert get_colormap("000,fff").lut[100].tolist() == [100, 100, 100]
    with pytest.raises(UnknownNameError) as info:
        get_colormap("no-such-map")
    assert "bwr" in str(info.value) and "coldnhot" in str(info.value)
    with pytest.raises(ColorMapError, match="bad colour"):
        get_colormap("000,zzz")


def test_css_gradient_runs_from_first_to_last_entry():
    text = get_colormap("bwr").css_gradient(stops=3)
    assert text == "linear-gradient(to right, #0000ff 0.0%, #ffffff 50.2%, #ff0000 100.0%)"
