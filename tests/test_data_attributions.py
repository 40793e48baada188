"""Attribution files: AttributionSet over one or several files, validation, the atomic writer."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from relscope.core.data.attributions import (
    AttributionFileWriter,
    AttributionSet,
    write_attributions,
)
from relscope.core.data.chunk_codec import (
    encode_rows,
    hdf5_shuffle,
    pack_chunks,
    rows_per_chunk_for,
    unpack_chunks,
)
from relscope.core.data.inputs import open_inputs
from relscope.core.data.label_map import default_label_map
from relscope.core.errors import DataFormatError

RNG = np.random.default_rng(1)
ATTR = RNG.normal(size=(6, 3, 5, 4)).astype(np.float32)
PRED = RNG.normal(size=(6, 4)).astype(np.float32)
LABEL = np.array([0, 1, 2, 3, 0, 1])


def _raw(path, **keys):
    """Write keys exactly as given (dict values become groups) with h5py."""
    with h5py.File(path, "w") as file:
        for key, value in keys.items():
            if isinstance(value, dict):
                group = file.create_group(key)
                for name, item in value.items():
                    group[name] = item
            else:
                file[key] = value
    return path


def test_single_file_without_index_maps_row_to_sample(tmp_path):
    path = _raw(tmp_path / "a.h5", attribution=ATTR, prediction=PRED, label=LABEL)
    with AttributionSet(path, label_map=default_label_map(4), num_samples=6) as attributions:
        assert len(attributions) == 6 and list(attributions.indices) == list(range(6))
        np.testing.assert_array_equal(attributions.attribution(4), ATTR[4])
        np.testing.assert_array_equal(attributions.prediction(4), PRED[4])
        assert attributions.labels(2) == [2]
        with pytest.raises(KeyError):
            attributions.attribution(6)


def test_channels_last_and_group_forms_read_as_chw(tmp_path):
    path = _raw(
        tmp_path / "a.h5",
        attribution={f"{i:02d}": ATTR[i].transpose(1, 2, 0) for i in range(6)},
        prediction={f"{i:02d}": PRED[i] for i in range(6)},
        label={f"{i:02d}": np.uint16(v) for i, v in enumerate(LABEL)},
    )
    attributions = AttributionSet([path])
    np.testing.assert_array_equal(attributions.attribution(5), ATTR[5])
    np.testing.assert_array_equal(attributions.prediction(5), PRED[5])
    assert attributions.labels(3) == [3]
    hwc = _raw(tmp_path / "b.h5", attribution=ATTR.transpose(0, 2, 3, 1), prediction=PRED,
               label=LABEL)  # fmt: skip
    np.testing.assert_array_equal(AttributionSet(hwc).attribution(1), ATTR[1])


def test_split_files_each_claim_their_index(tmp_path):
    first = _raw(tmp_path / "0.h5", attribution=ATTR[[4, 0]], prediction=PRED[[4, 0]],
                 label=LABEL[[4, 0]], index=np.array([4, 0], np.uint32))  # fmt: skip
    second = _raw(tmp_path / "1.h5", attribution=ATTR[[2]], prediction=PRED[[2]],
                  label=LABEL[[2]], index=np.array([2], np.uint64))  # fmt: skip
    attributions = AttributionSet([first, second], num_samples=6)
    assert list(attributions.indices) == [0, 2, 4]
    assert 3 not in attributions and 4 in attributions
    for i in (0, 2, 4):
        np.testing.assert_array_equal(attributions.attribution(i), ATTR[i])
        assert attributions.labels(i) == [LABEL[i]]


@pytest.mark.parametrize(
    ("keys", "expected"),
    [
        ({"prediction": PRED, "label": LABEL}, "a.h5: missing key 'attribution'"),
        ({"attribution": ATTR, "label": LABEL}, "a.h5: missing key 'prediction'"),
        ({"attribution": ATTR, "prediction": PRED}, "a.h5: missing key 'label'"),
        (
            {"attribution": ATTR, "prediction": PRED[:5], "label": LABEL},
            "key 'prediction' has 5 rows but key 'attribution' has 6",
        ),
        (
            {"attribution": ATTR, "prediction": PRED, "label": LABEL, "index": np.arange(5)},
            "key 'index' has 5 rows",
        ),
        (
            {"attribution": ATTR, "prediction": PRED, "label": LABEL, "index": np.arange(6) + 2},
            "key 'index' points at sample 7, outside the data set of 6 samples",
        ),
        (
            {"attribution": ATTR, "prediction": PRED, "label": LABEL, "index": [0, 1, 1, 2, 3, 4]},
            "key 'index' lists sample 1 twice",
        ),
        (
            {"attribution": ATTR, "prediction": PRED, "label": LABEL + 2},
            "key 'label' row 2 holds label 4, which is not in the label map",
        ),
        ({"attribution": ATTR[None], "prediction": PRED[:1], "label": LABEL[:1]}, "(N, C, H, W)"),
        (
            {"attribution": ATTR[:, 0, 0, 0], "prediction": PRED, "label": LABEL},  # (N, T): tokens
            "key 'attribution' must be",
        ),
    ],
)
def test_invalid_attribution_files_name_file_and_key(tmp_path, keys, expected):
    path = _raw(tmp_path / "a.h5", **keys)
    with pytest.raises(DataFormatError) as info:
        AttributionSet(path, label_map=default_label_map(4), num_samples=6)
    message = str(info.value)
    assert message.startswith(str(path)) and expected in message and "\n" not in message


def test_several_files_need_index_and_may_not_overlap(tmp_path):
    plain = _raw(tmp_path / "plain.h5", attribution=ATTR, prediction=PRED, label=LABEL)
    other = _raw(tmp_path / "other.h5", attribution=ATTR[:2], prediction=PRED[:2],
                 label=LABEL[:2], index=[1, 5])  # fmt: skip
    with pytest.raises(DataFormatError, match="plain.h5: missing key 'index' .*several files"):
        AttributionSet([plain, other])
    again = _raw(tmp_path / "again.h5", attribution=ATTR[:1], prediction=PRED[:1],
                 label=LABEL[:1], index=[5])  # fmt: skip
    with pytest.raises(DataFormatError, match=r"again.h5: key 'index' claims sample 5, .*other.h5"):
        AttributionSet([other, again])


def test_attribution_size_must_match_the_data(tmp_path):
    inputs_path = _raw(tmp_path / "in.h5", data=np.zeros((6, 3, 5, 5), np.uint8), label=LABEL)
    path = _raw(tmp_path / "a.h5", attribution=ATTR, prediction=PRED, label=LABEL)
    inputs = open_inputs(inputs_path)
    with pytest.raises(DataFormatError, match="sample 0 is 5x4 but the data sample is 5x5"):
        AttributionSet(path, inputs=inputs)
    same = _raw(tmp_path / "ok.h5", data=np.zeros((6, 5, 4, 3), np.uint8), label=LABEL)
    assert len(AttributionSet(path, inputs=open_inputs(same))) == 6


def test_writer_appends_batches_into_chunked_compressed_resizable_datasets(tmp_path):
    path = tmp_path / "out.h5"
    with AttributionFileWriter(path, with_index=True, attributes={"note": "x"}) as writer:
        writer.append(ATTR[:4], PRED[:4], LABEL[:4], np.arange(4) + 10)
        assert not path.exists()  # only a temporary name exists while writing
        writer.append(ATTR[4:], PRED[4:], LABEL[4:], np.arange(4, 6) + 10)
    with h5py.File(path, "r") as file:
        assert file.attrs["note"] == "x"
        np.testing.assert_array_equal(file["attribution"][()], ATTR)
        np.testing.assert_array_equal(file["prediction"][()], PRED)
        np.testing.assert_array_equal(file["label"][()], LABEL)
        np.testing.assert_array_equal(file["index"][()], np.arange(6) + 10)
        assert file["index"].dtype.kind == "u"
        assert file["attribution"].maxshape == (None, 3, 5, 4)
        assert file["attribution"].compression == "gzip" and file["attribution"].chunks[1:] == (
            3,
            5,
            4,
        )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.h5"]


def test_writer_leaves_nothing_when_the_block_fails(tmp_path):
    path = tmp_path / "out.h5"
    with pytest.raises(RuntimeError), AttributionFileWriter(path, with_index=False) as writer:
        writer.append(ATTR[:2], PRED[:2], LABEL[:2])
        raise RuntimeError("interrupted")
    assert list(tmp_path.iterdir()) == []
    write_attributions(path, ATTR, PRED, LABEL)
    np.testing.assert_array_equal(AttributionSet(path).attribution(3), ATTR[3])


@pytest.mark.parametrize("level", [0, 1, 6])
def test_encoded_chunks_read_back_as_the_rows(tmp_path, level):
    """Chunks encoded outside HDF5 (shuffle + deflate) are decoded by HDF5's own filters."""
    rows = RNG.normal(size=(10, 3, 5, 4)).astype(np.float32)
    path = tmp_path / "enc.h5"
    with AttributionFileWriter(path, with_index=True) as writer:
        for first, last in ((0, 4), (4, 8), (8, 10)):  # the last batch ends in a partial chunk
            batch = rows[first:last]
            writer.append_encoded(
                encode_rows(batch, 2, level), batch.shape, 2, level, PRED[:1].repeat(len(batch), 0),
                np.zeros(len(batch), int), np.arange(first, last),
            )  # fmt: skip
    with h5py.File(path, "r") as file:
        dataset = file["attribution"]
        assert dataset.shape == (10, 3, 5, 4) and dataset.chunks == (2, 3, 5, 4)
        assert dataset.compression == ("gzip" if level else None)
        np.testing.assert_array_equal(dataset[()], rows)
        np.testing.assert_array_equal(file["index"][()], np.arange(10))
    with (
        pytest.raises(ValueError, match="chunk boundary"),
        AttributionFileWriter(tmp_path / "bad.h5", with_index=False) as writer,
    ):
        writer.append_encoded(encode_rows(rows[:3], 2), (3, 3, 5, 4), 2, 1, PRED[:3], LABEL[:3])
        writer.append_encoded(encode_rows(rows[:2], 2), (2, 3, 5, 4), 2, 1, PRED[:2], LABEL[:2])
    assert not (tmp_path / "bad.h5").exists()


def test_chunk_helpers():
    assert hdf5_shuffle(np.array([0x0102, 0x0304], dtype="<u2")) == bytes([2, 4, 1, 3])
    data, sizes = pack_chunks([b"ab", b"", b"cde"])
    assert unpack_chunks(data, sizes) == [b"ab", b"", b"cde"]
    assert [rows_per_chunk_for(32, t) for t in (64, 20, 1, 0)] == [32, 16, 1, 1]
    assert rows_per_chunk_for(37, 20) == 1
