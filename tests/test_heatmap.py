"""Heatmap arithmetic: channel sums, the three normalisations, indices, grids and overlays."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from relscope.core.errors import HeatmapError
from relscope.core.heatmap import (
    gray_image,
    heatmap_grid,
    heatmap_indices,
    normalize,
    overlay_rgb,
    render_overlay,
    sum_channels,
)

R = np.array([[-2.0, 0.0], [1.0, 4.0]])


def test_normalize_symmetric_by_hand():
    # max|R| = 4: (R / 4 + 1) / 2
    assert np.allclose(normalize(R, "symmetric"), [[0.25, 0.5], [0.625, 1.0]])


def test_normalize_absolute_by_hand():
    assert np.allclose(normalize(R, "absolute"), [[0.5, 0.0], [0.25, 1.0]])


def test_normalize_unaligned_by_hand():
    # (R - (-2)) / 6
    assert np.allclose(normalize(R, "unaligned"), [[0.0, 1 / 3], [0.5, 1.0]])


@pytest.mark.parametrize(
    ("mode", "expected"),
    [
        ("symmetric", [[64, 128], [159, 255]]),  # 63.75, 127.5, 159.375, 255 rounded half up
        ("absolute", [[128, 0], [64, 255]]),
        ("unaligned", [[0, 85], [128, 255]]),
    ],
)
def test_indices_by_hand(mode, expected):
    indices = heatmap_indices(R, mode)
    assert indices.dtype == np.uint8
    assert indices.tolist() == expected


def test_zero_attribution_maps_to_the_neutral_index():
    zero = np.zeros((3, 4, 5))
    assert (heatmap_indices(zero, "symmetric") == 128).all()
    assert (heatmap_indices(zero, "absolute") == 0).all()
    assert (heatmap_indices(zero, "unaligned") == 128).all()


def test_channels_are_summed_before_normalising():
    chw = np.stack([[[-1.0, 0.0], [0.0, 4.0]], [[-1.0, 0.0], [1.0, 0.0]]])
    assert np.array_equal(sum_channels(chw), R)
    assert heatmap_indices(chw).tolist() == [[64, 128], [159, 255]]


def test_batches_are_normalised_sample_by_sample():
    batch = np.stack([R[None], 3.0 * R[None]])  # (N=2, C=1, H, W)
    indices = heatmap_indices(batch)
    assert indices.shape == (2, 2, 2)
    assert indices[0].tolist() == indices[1].tolist() == [[64, 128], [159, 255]]


def test_torch_tensors_are_accepted():
    torch = pytest.importorskip("torch")
    assert heatmap_indices(torch.tensor(R[None])).tolist() == [[64, 128], [159, 255]]


def test_bad_attributions_raise_clear_errors():
    with pytest.raises(HeatmapError, match="unknown heatmap mode 'loud'"):
        heatmap_indices(R, "loud")
    with pytest.raises(HeatmapError, match=r"got shape \(5,\)"):
        heatmap_indices(np.ones(5))
    with pytest.raises(HeatmapError, match="2 non-finite"):
        heatmap_indices(np.array([[np.nan, 1.0], [np.inf, 0.0]]))


def test_grid_layout_and_fill():
    tiles = [np.full((3, 4), 10 * (k + 1), dtype=np.uint8) for k in range(5)]
    grid = heatmap_grid(tiles, padding=1, fill=7)  # ceil(sqrt(5)) = 3 columns, 2 rows
    assert grid.shape == (2 * 3 + 1, 3 * 4 + 2)
    assert (grid[0:3, 0:4] == 10).all() and (grid[0:3, 10:14] == 30).all()
    assert (grid[4:7, 5:9] == 50).all()  # tile 4: row 1, column 1
    assert (grid[3, :] == 7).all() and (grid[:, 4] == 7).all()  # gaps
    assert (grid[4:7, 10:14] == 7).all()  # the empty last cell
    assert heatmap_grid(tiles, ncols=5, padding=0).shape == (3, 20)
    assert heatmap_grid(tiles, ncols=9, padding=0).shape == (3, 20)  # never more columns than tiles


def test_grid_rejects_mismatched_tiles():
    with pytest.raises(HeatmapError, match=r"tile 1 has shape \(2, 2\)"):
        heatmap_grid([np.zeros((3, 3)), np.zeros((2, 2))])
    with pytest.raises(HeatmapError, match="at least one"):
        heatmap_grid([])


def test_gray_image_uses_luma_weights():
    rgb = np.array([[[0.2, 0.4, 0.6]]])
    assert gray_image(rgb)[0, 0] == pytest.approx(0.299 * 0.2 + 0.587 * 0.4 + 0.114 * 0.6)
    assert gray_image(np.array([[0, 255]], dtype=np.uint8)).tolist() == [[0.0, 1.0]]


def test_overlay_pixels_by_hand():
    indices = np.array([[0, 255, 128]], dtype=np.uint8)
    image = np.array([[[1.0, 1.0, 1.0], [0.0, 0.0, 0.0], [0.2, 0.4, 0.6]]])
    png = render_overlay(indices, image, "bwr", alpha=0.5)
    with Image.open(io.BytesIO(png)) as reopened:
        assert reopened.mode == "RGB"
        pixels = np.asarray(reopened)
    # 0.5 * blue + 0.5 * white = (127.5, 127.5, 255) -> (128, 128, 255)
    assert pixels[0, 0].tolist() == [128, 128, 255]
    # 0.5 * red + 0.5 * black = (127.5, 0, 0) -> (128, 0, 0)
    assert pixels[0, 1].tolist() == [128, 0, 0]
    # 0.5 * white + 0.5 * 92.565 (luma of 51, 102, 153) = 173.78 -> 174
    assert pixels[0, 2].tolist() == [174, 174, 174]
    quarter = overlay_rgb(indices, image, "bwr", alpha=0.25)
    assert quarter[0, 2].tolist() == [133, 133, 133]  # 63.75 + 0.75 * 92.565 = 133.17


def test_overlay_checks_shapes_and_alpha():
    with pytest.raises(HeatmapError, match="does not match image shape"):
        overlay_rgb(np.zeros((2, 2), dtype=np.uint8), np.zeros((3, 3)), "bwr")
    with pytest.raises(HeatmapError, match="alpha"):
        overlay_rgb(np.zeros((2, 2), dtype=np.uint8), np.zeros((2, 2)), "bwr", alpha=1.5)
