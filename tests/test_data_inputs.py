"""Input data sets: HDF5 dataset and group forms, value ranges, image directories, validation.

Files are written with h5py / PIL straight from docs/formats.md, not through relscope's writers.
"""

from __future__ import annotations

import pickle

import h5py
import numpy as np
import pytest
from PIL import Image

from relscope.core.data.inputs import (
    Hdf5Inputs,
    ImageDirectoryInputs,
    list_sample_paths,
    open_inputs,
)
from relscope.core.data.label_map import LabelEntry, LabelMap, default_label_map
from relscope.core.data.resampling import resample
from relscope.core.data.sources import DatasetSpec
from relscope.core.errors import DataFormatError


def _write(path, data, label, **attrs):
    with h5py.File(path, "w") as file:
        if isinstance(data, dict):
            group = file.create_group("data")
            for name, value in data.items():
                group[name] = value
        elif data is not None:
            file["data"] = data
        if isinstance(label, dict):
            group = file.create_group("label")
            for name, value in label.items():
                group[name] = value
        elif label is not None:
            file["label"] = label
        for key, value in attrs.items():
            file["data"].attrs[key] = value
    return path


def test_channels_first_float_in_unit_range_is_returned_as_hwc(tmp_path):
    rng = np.random.default_rng(0)
    data = rng.uniform(0, 1, size=(5, 3, 6, 4)).astype(np.float32)
    data[0, 0, 0, 0], data[0, 0, 0, 1] = 0.0, 1.0
    inputs = open_inputs(_write(tmp_path / "in.h5", data, np.arange(5) % 2))
    assert len(inputs) == 5 and inputs.value_range == (0.0, 1.0)
    image = inputs.image(3)
    assert image.dtype == np.float32 and image.shape == (6, 4, 3)
    np.testing.assert_array_equal(image, data[3].transpose(1, 2, 0))
    assert inputs.labels(3) == [1]
    with pytest.raises(IndexError):
        inputs.image(5)


@pytest.mark.parametrize(
    ("low", "high", "dtype"),
    [(-1.0, 1.0, np.float32), (0.0, 255.0, np.float64), (0, 255, np.uint8)],
)
def test_value_range_is_guessed_and_mapped_to_unit(tmp_path, low, high, dtype):
    unit = np.linspace(0, 1, 2 * 4 * 4 * 3).reshape(2, 4, 4, 3)  # channels last
    stored = (unit * (high - low) + low).round(0 if dtype == np.uint8 else 6).astype(dtype)
    inputs = Hdf5Inputs(_write(tmp_path / "in.h5", stored, np.array([0, 1])))
    assert inputs.value_range == (float(low), float(high))
    expected = (stored[1].astype(np.float64) - low) / (high - low)
    np.testing.assert_allclose(inputs.image(1), expected, atol=1e-6)


def test_value_range_attribute_overrides_the_guess(tmp_path):
    stored = np.full((1, 1, 2, 2), 0.5, dtype=np.float32)  # would be guessed as [0, 1]
    inputs = Hdf5Inputs(_write(tmp_path / "in.h5", stored, [0], value_range=[0.0, 2.0]))
    np.testing.assert_allclose(inputs.image(0)[..., 0], 0.25)


def test_group_per_sample_form_sorted_names_uint16_and_grayscale(tmp_path):
    images = {f"{i:03d}": np.full((1, 3, 3), i * 60, dtype=np.uint8) for i in (2, 0, 1)}
    labels = {f"{i:03d}": np.uint16(i + 4) for i in (1, 2, 0)}
    inputs = open_inputs(_write(tmp_path / "in.h5", images, labels))
    assert len(inputs) == 3
    assert [inputs.labels(i) for i in range(3)] == [[4], [5], [6]]
    assert inputs.image(2).shape == (3, 3, 1)
    np.testing.assert_allclose(inputs.image(2), 120 / 255)


def test_n_hot_labels_in_dataset_and_group_form(tmp_path):
    n_hot = np.array([[1, 0, 1], [0, 1, 0]], dtype=bool)
    data = np.zeros((2, 4, 4, 3), np.uint8)
    inputs = open_inputs(_write(tmp_path / "a.h5", data, n_hot))
    assert inputs.multi_label and inputs.label_column.width == 3
    assert [inputs.labels(0), inputs.labels(1)] == [[0, 2], [1]]
    np.testing.assert_array_equal(inputs.label_column.array(), n_hot)
    group = {"0": n_hot[0], "1": n_hot[1]}
    inputs = open_inputs(_write(tmp_path / "b.h5", data, group))
    assert [inputs.labels(0), inputs.labels(1)] == [[0, 2], [1]]


@pytest.mark.parametrize(
    ("data", "label", "expected"),
    [
        (None, np.zeros(2, int), "missing key 'data'"),
        (np.zeros((2, 3, 4, 4)), None, "missing key 'label'"),
        (np.zeros((2, 3, 4, 4)), np.zeros(3, int), "key 'label' has 3 rows but key 'data' has 2"),
        (np.zeros((2, 4)), np.zeros(2, int), "key 'data' must be (N, C, H, W)"),
        (np.zeros((2, 3, 4, 4)), np.zeros(2, float), "key 'label' must hold integers"),
        (np.zeros((2, 3, 4, 4)), np.full((2, 2), 3), "key 'label' must be n-hot"),
        (np.zeros((2, 3, 4, 4)), np.array([0, 12]), "row 1 holds label 12, which is not in"),
    ],
)
def test_invalid_input_files_name_file_and_key(tmp_path, data, label, expected):
    path = _write(tmp_path / "in.h5", data, label)
    with pytest.raises(DataFormatError) as info:
        open_inputs(path, default_label_map(10))
    message = str(info.value)
    assert message.startswith(str(path)) and expected in message and "\n" not in message


def test_missing_and_truncated_files_are_data_format_errors(tmp_path):
    with pytest.raises(DataFormatError, match="input HDF5 file not found"):
        open_inputs(tmp_path / "absent.h5")
    path = _write(tmp_path / "in.h5", np.zeros((50, 3, 16, 16)), np.zeros(50, int))
    content = path.read_bytes()
    path.write_bytes(content[: len(content) // 3])
    with pytest.raises(DataFormatError, match="not a readable input HDF5 file"):
        open_inputs(path)


def test_source_pickles_without_its_handle_and_reopens(tmp_path):
    data = np.arange(2 * 2 * 2 * 3, dtype=np.uint8).reshape(2, 2, 2, 3)
    inputs = open_inputs(_write(tmp_path / "in.h5", data, [0, 1]))
    first = inputs.image(1)
    clone = pickle.loads(pickle.dumps(inputs))
    np.testing.assert_array_equal(clone.image(1), first)
    clone.close()
    inputs.close()


def _png(path, array):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)


def test_image_directory_with_index_regex_and_fill_zeros(tmp_path):
    root = tmp_path / "images"
    red = np.zeros((2, 4, 3), np.uint8)
    red[..., 0] = 255
    _png(root / "3" / "b.png", red)
    _png(root / "1" / "a.png", np.full((6, 6, 3), 100, np.uint8))
    inputs = ImageDirectoryInputs(
        root, 6, 6, "fill_zeros", "center_crop", label_index_regex=r"^.*/(\d+)/[^/]+$"
    )
    assert [p.name for p in inputs.sample_paths] == ["a.png", "b.png"]  # sorted full paths
    assert [inputs.labels(0), inputs.labels(1)] == [[1], [3]]
    image = inputs.image(1)
    assert image.shape == (6, 6, 3)
    # the 2x4 red image sits centred: rows 2..3, columns 1..4; the rest is zeros
    np.testing.assert_array_equal(image[2:4, 1:5, 0], 1.0)
    assert image.sum() == 8.0
    np.testing.assert_allclose(inputs.image(0), 100 / 255)


def test_image_directory_paths_file_lists_samples_relative_to_the_parent(tmp_path):
    root = tmp_path / "images"
    for name, label in (("x.png", 2), ("y.png", 0), ("z.png", 1)):
        _png(root / f"n0000000{label}" / name, np.zeros((4, 4, 3), np.uint8))
    (tmp_path / "images_paths.txt").write_text("images/n00000001/z.png\nimages/n00000002/x.png\n")
    label_map = LabelMap(LabelEntry(i, f"n0000000{i}", f"c{i}") for i in range(3))
    inputs = ImageDirectoryInputs(
        root, 4, 4, label_word_net_id_regex=r".*/(n\d+)/.*", label_map=label_map
    )
    assert [p.name for p in inputs.sample_paths] == ["z.png", "x.png"]
    assert [inputs.labels(0), inputs.labels(1)] == [[1], [2]]
    assert list_sample_paths(root) == inputs.sample_paths


def test_image_directory_errors_name_the_key_or_sample(tmp_path):
    root = tmp_path / "images"
    _png(root / "cat" / "a.png", np.zeros((4, 4, 3), np.uint8))
    with pytest.raises(DataFormatError, match=r"key 'label_index_regex' does not match .*a\.png"):
        ImageDirectoryInputs(root, 4, 4, label_index_regex=r"^.*/(\d+)/[^/]+$")
    label_map = default_label_map(2)
    with pytest.raises(DataFormatError, match="word_net_id 'cat', which is not in the label map"):
        ImageDirectoryInputs(root, 4, 4, label_word_net_id_regex=r".*/(\w+)/", label_map=label_map)
    _png(root / "7" / "b.png", np.zeros((4, 4, 3), np.uint8))
    with pytest.raises(DataFormatError, match="label 7, which is not in the label map"):
        ImageDirectoryInputs(root, 4, 4, label_index_regex=r"^.*/(\d+|cat)/", label_map=label_map)
    with pytest.raises(DataFormatError, match="no image files found"):
        (tmp_path / "empty").mkdir()
        ImageDirectoryInputs(tmp_path / "empty", 4, 4, label_index_regex="(x)")


def test_class_folders_form_and_project_spec(tmp_path):
    root = tmp_path / "folder"
    _png(root / "dog" / "1.png", np.full((5, 7, 3), 10, np.uint8))
    _png(root / "cat" / "2.png", np.full((5, 7, 3), 20, np.uint8))
    _png(root / "cat" / "1.png", np.full((10, 14, 3), 30, np.uint8))
    inputs = open_inputs(root)
    assert [e.name for e in inputs.label_map] == ["cat", "dog"]
    assert [inputs.labels(i) for i in range(3)] == [[0], [0], [1]]
    assert inputs.image(0).shape == (10, 14, 3)  # size of the first image
    np.testing.assert_allclose(inputs.image(1), 20 / 255)  # 5x7 resized up: constant stays
    spec = DatasetSpec("f", "image_directory", root, 7, 5, "none", "center_crop", r".*/(\d)/", None)
    with pytest.raises(DataFormatError, match="does not match"):
        open_inputs(spec)


def test_resampling_methods_on_known_pixels():
    image = np.arange(1, 7, dtype=np.uint8).reshape(2, 3, 1)  # [[1,2,3],[4,5,6]]
    padded = resample(image, 5, 4, "edge_repeat", "none")
    np.testing.assert_array_equal(
        padded[..., 0],
        [[1, 1, 2, 3, 3], [1, 1, 2, 3, 3], [4, 4, 5, 6, 6], [4, 4, 5, 6, 6]],
    )
    np.testing.assert_array_equal(resample(image, 5, 2, "wrap_around", "none")[0, :, 0],
                                  [3, 1, 2, 3, 1])  # fmt: skip
    np.testing.assert_array_equal(resample(image, 5, 2, "mirror_edge", "none")[1, :, 0],
                                  [4, 4, 5, 6, 6])  # fmt: skip
    assert resample(image, 5, 2, "fill_ones", "none")[0, 0, 0] == 255
    np.testing.assert_array_equal(resample(image, 1, 2, "none", "center_crop")[..., 0], [[2], [5]])
    assert resample(image, 2, 1, "none", "none").shape == (2, 3, 1)  # 'none' keeps larger sides
    assert resample(image, 6, 4, "resize", "none").shape == (4, 6, 1)
    # wider than the target but too short: pad the height, then crop the width
    np.testing.assert_array_equal(
        resample(image, 1, 4, "fill_zeros", "center_crop")[..., 0], [[0], [2], [5], [0]]
    )
