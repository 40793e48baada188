"""``relscope recolor`` and ``relscope heatmap`` as a user runs them (real subprocesses, real files)."""

from __future__ import annotations

import h5py
import numpy as np
from PIL import Image

from relscope.core.cli.main import main
from relscope.core.colormap import get_colormap

# 4 x 4 so that the channel axis (3) is a sample's smallest, as the file format decides layout by
R = np.zeros((4, 4))
R[:2, :2] = [[-2.0, 0.0], [1.0, 4.0]]
R_SYMMETRIC = np.full((4, 4), 128)  # (R / 4 + 1) / 2 * 255, rounded half up
R_SYMMETRIC[:2, :2] = [[64, 128], [159, 255]]
R_SYMMETRIC = R_SYMMETRIC.tolist()


def _palette(path):
    with Image.open(path) as image:
        assert image.mode == "P"
        return np.asarray(image).copy(), image.getpalette()


def test_recolor_changes_the_palette_not_the_indices(tmp_path, relscope_cli):
    indices = (np.arange(48).reshape(6, 8) * 5).astype(np.uint8)
    source = tmp_path / "heatmap.png"
    image = Image.new("P", (8, 6))  # written by PIL itself, independent of our encoder
    image.putdata(indices.reshape(-1).tolist())
    image.putpalette(get_colormap("gray").lut.reshape(-1).tolist())
    image.save(source)
    out = tmp_path / "other.png"
    done = relscope_cli("recolor", str(source), "--cmap", "bwr", "--out", str(out))
    assert done.returncode == 0, done.stderr
    new_indices, new_palette = _palette(out)
    assert np.array_equal(new_indices, indices)
    assert new_palette == get_colormap("bwr").lut.reshape(-1).tolist()
    _, old_palette = _palette(source)  # the source is untouched
    assert old_palette == get_colormap("gray").lut.reshape(-1).tolist()
    # in place, with a spec instead of a name
    assert main(["recolor", str(source), "--cmap", "000,f00"]) == 0
    _, in_place = _palette(source)
    assert in_place[3 * 255 : 3 * 256] == [255, 0, 0] and in_place[:3] == [0, 0, 0]
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_recolor_refuses_an_rgb_png_and_leaves_it_alone(tmp_path, relscope_cli):
    photo = tmp_path / "photo.png"
    Image.new("RGB", (3, 3), (1, 2, 3)).save(photo)
    before = photo.read_bytes()
    done = relscope_cli("recolor", str(photo), "--cmap", "bwr")
    assert done.returncode == 2
    assert done.stderr.startswith("relscope: error: ")
    assert "photo.png: a RGB PNG, not an 8-bit palette PNG" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert photo.read_bytes() == before


def test_recolor_unknown_colormap_lists_known_names(tmp_path, capsys):
    png = tmp_path / "h.png"
    png.write_bytes(b"")
    assert main(["recolor", str(png), "--cmap", "nope"]) == 2
    err = capsys.readouterr().err
    assert "unknown colour map 'nope'" in err and "coldnhot" in err


def test_heatmap_command_writes_palette_pngs_and_a_grid(tmp_path, relscope_cli):
    attribution = np.zeros((3, 3, 4, 4), dtype=np.float32)  # (N, C, H, W)
    attribution[0, 0] = R
    attribution[1, 1] = -R
    attribution[2, 2] = 2 * R
    source = tmp_path / "attribution.h5"
    with h5py.File(source, "w") as handle:
        handle["attribution"] = attribution
        handle["index"] = np.array([10, 11, 12], dtype=np.uint32)
    out = tmp_path / "maps"
    grid = tmp_path / "grid.png"
    done = relscope_cli(
        "heatmap", str(source), "--out", str(out), "--cmap", "coldnhot",
        "--indices", "0", "2", "--grid", str(grid), "--ncols", "2",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in out.iterdir()) == ["heatmap-000000.png", "heatmap-000002.png"]
    for name in ("heatmap-000000.png", "heatmap-000002.png"):
        indices, palette = _palette(out / name)
        assert indices.tolist() == R_SYMMETRIC
        assert palette == get_colormap("coldnhot").lut.reshape(-1).tolist()
    with Image.open(out / "heatmap-000002.png") as image:
        assert image.text["relscope:index"] == "12" and image.text["relscope:mode"] == "symmetric"
    grid_indices, _ = _palette(grid)
    assert grid_indices.shape == (4, 2 * 4 + 2)
    assert grid_indices[:, :4].tolist() == R_SYMMETRIC == grid_indices[:, 6:].tolist()
    assert (grid_indices[:, 4:6] == 0).all()  # the padding holds index 0


def test_heatmap_command_reads_channels_last_and_per_sample_groups(tmp_path):
    channels_last = tmp_path / "last.h5"
    with h5py.File(channels_last, "w") as handle:
        handle["attribution"] = np.stack([R, np.zeros_like(R), np.zeros_like(R)], -1)[None]
    assert (
        main(["heatmap", str(channels_last), "--out", str(tmp_path / "a"), "--mode", "absolute"])
        == 0
    )
    indices, _ = _palette(tmp_path / "a" / "heatmap-000000.png")
    expected = np.zeros((4, 4), dtype=int)
    expected[:2, :2] = [[128, 0], [64, 255]]
    assert indices.tolist() == expected.tolist()
    grouped = tmp_path / "grouped.h5"
    with h5py.File(grouped, "w") as handle:
        group = handle.create_group("attribution")
        group["00001"] = -R[None]
        group["00000"] = R[None]
    assert main(["heatmap", str(grouped), "--out", str(tmp_path / "b")]) == 0
    first, _ = _palette(tmp_path / "b" / "heatmap-000000.png")
    second, _ = _palette(tmp_path / "b" / "heatmap-000001.png")
    assert first.tolist() == R_SYMMETRIC
    flipped = np.full((4, 4), 128)
    flipped[:2, :2] = [[191, 128], [96, 0]]  # -R: (-R / 4 + 1) / 2 * 255 = 191.25, 95.625, 0
    assert second.tolist() == flipped.tolist()


def test_heatmap_command_errors_name_the_file_and_field(tmp_path, capsys):
    missing_key = tmp_path / "other.h5"
    with h5py.File(missing_key, "w") as handle:
        handle["relevance"] = np.zeros((1, 1, 4, 4))
    assert main(["heatmap", str(missing_key), "--out", str(tmp_path / "o")]) == 2
    assert "other.h5: no 'attribution' dataset or group" in capsys.readouterr().err
    good = tmp_path / "good.h5"
    with h5py.File(good, "w") as handle:
        handle["attribution"] = np.zeros((2, 1, 4, 4))
    assert main(["heatmap", str(good), "--out", str(tmp_path / "o"), "--indices", "5"]) == 2
    assert "row 5 is outside" in capsys.readouterr().err
    assert main(["heatmap", str(tmp_path / "nope.h5"), "--out", str(tmp_path / "o")]) == 2
    assert "nope.h5: no such file" in capsys.readouterr().err
