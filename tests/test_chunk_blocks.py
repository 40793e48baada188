"""Reading chunked HDF5 rows a decoded chunk row at a time: the same values as h5py, every chunk
row decoded once however many threads ask for its samples at once, and bounded memory.

Every file here is real and written by h5py; the expected values are h5py's own reads.
"""

from __future__ import annotations

import threading
import zlib
from pathlib import Path

import h5py
import numpy as np
import pytest

from relscope.core.data import chunk_blocks
from relscope.core.data.attributions import AttributionSet
from relscope.core.data.chunk_blocks import BlockRows, DecodedBlockCache, read_block
from relscope.core.data.inputs import Hdf5Inputs

COUNT, SIDE = 500, 32


def _inflaters() -> list:
    found = [zlib.decompress]
    try:
        from isal.isal_zlib import decompress

        found.append(decompress)
    except ImportError:
        pass
    return found


def _virelay_layout(path: Path, count: int = COUNT, seed: int = 0) -> np.ndarray:
    """An attribution file as ViRelAy's examples write it: full size, resizable, h5py's chunks,
    gzip without shuffle (h5py picks (63, 1, 8, 8)-like chunks: samples split over chunks)."""
    rng = np.random.default_rng(seed)
    values = rng.normal(size=(count, 1, SIDE, SIDE)).astype(np.float32)
    with h5py.File(path, "w") as file:
        file.create_dataset(
            "attribution",
            data=values,
            maxshape=(None, 1, SIDE, SIDE),
            chunks=True,
            compression="gzip",
        )
        file.create_dataset("prediction", data=rng.normal(size=(count, 3)).astype(np.float32))
        file.create_dataset("label", data=rng.integers(0, 3, size=count).astype(np.uint16))
    return values


@pytest.fixture()
def layouts(tmp_path: Path) -> Path:
    """Datasets of every layout the reader meets: its fast paths and its fall-backs."""
    rng = np.random.default_rng(1)
    path = tmp_path / "layouts.h5"
    values = rng.normal(size=(101, 3, 17, 9)).astype(np.float32)
    with h5py.File(path, "w") as file:
        # shuffle + gzip, big-endian, chunks not dividing any axis
        file.create_dataset(
            "shuffled",
            data=values.astype(">f4"),
            chunks=(10, 2, 5, 4),
            compression="gzip",
            shuffle=True,
        )
        file.create_dataset("deflate", data=values, chunks=(16, 3, 17, 9), compression="gzip")
        file.create_dataset(
            "plain_chunks", data=(values * 50).astype(np.uint8), chunks=(7, 3, 4, 9)
        )
        file.create_dataset("contiguous", data=values)
        file.create_dataset(
            "checksummed", data=values, chunks=(8, 3, 17, 9), compression="gzip", fletcher32=True
        )
        partly = file.create_dataset(
            "unwritten", shape=(40, 4), dtype="i4", chunks=(8, 4), compression="gzip", fillvalue=7
        )
        partly[0:8] = np.arange(32).reshape(8, 4)  # chunk rows 1..4 never written
    return path


@pytest.mark.parametrize("inflate", _inflaters(), ids=lambda f: f.__module__)
def test_a_decoded_block_equals_h5pys_read_for_every_layout(layouts: Path, inflate) -> None:
    with h5py.File(layouts, "r") as file:
        for name in file:
            dataset = file[name]
            rows = dataset.chunks[0] if dataset.chunks else 10
            for start in range(0, dataset.shape[0], rows):
                stop = min(start + rows, dataset.shape[0])
                block = read_block(dataset, start, stop, inflate=inflate)
                expected = dataset[start:stop]
                assert block.dtype == expected.dtype, name
                np.testing.assert_array_equal(block, expected, err_msg=name)


def test_rows_in_any_order_equal_h5pys_rows(layouts: Path, tmp_path: Path) -> None:
    values = _virelay_layout(tmp_path / "virelay.h5")
    order = np.random.default_rng(2).permutation(COUNT)
    with h5py.File(tmp_path / "virelay.h5", "r") as file:
        dataset = file["attribution"]
        assert dataset.chunks[0] > 1 and dataset.chunks[2] < SIDE  # samples split over chunks
        rows = BlockRows(DecodedBlockCache(), "virelay")
        for index in order.tolist():
            row = rows.row(dataset, index)
            np.testing.assert_array_equal(row, values[index])
            row[...] = 0  # a caller's copy: the cached block stays intact
        for index in order[:50].tolist():
            np.testing.assert_array_equal(rows.row(dataset, index), values[index])
    with h5py.File(layouts, "r") as file:
        for name in file:
            dataset = file[name]
            rows = BlockRows(DecodedBlockCache(), name)
            for index in np.random.default_rng(3).permutation(dataset.shape[0]).tolist():
                np.testing.assert_array_equal(rows.row(dataset, index), dataset[index], name)


def _concurrently(count: int, work) -> list:
    """``work(i)`` on ``count`` threads released together; their results in order."""
    barrier = threading.Barrier(count)
    results: list = [None] * count
    errors: list[BaseException] = []

    def run(number: int) -> None:
        try:
            barrier.wait()
            results[number] = work(number)
        except BaseException as exc:  # noqa: BLE001 - handed to the test below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(n,)) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors
    return results


@pytest.mark.parametrize("shuffle", [False, True], ids=["deflate", "shuffle+deflate"])
def test_concurrent_first_reads_of_one_chunk_row_decode_it_once(
    tmp_path: Path, shuffle: bool
) -> None:
    path = tmp_path / "attribution.h5"
    rng = np.random.default_rng(4)
    values = rng.normal(size=(256, 1, 16, 16)).astype(np.float32)
    with h5py.File(path, "w") as file:
        file.create_dataset(
            "attribution", data=values, chunks=(128, 1, 8, 8), compression="gzip", shuffle=shuffle
        )
        file.create_dataset("prediction", data=rng.normal(size=(256, 2)).astype(np.float32))
        file.create_dataset("label", data=np.zeros(256, dtype=np.uint16))
    serial = AttributionSet(path)
    cache = DecodedBlockCache()
    attributions = AttributionSet(path)
    attributions.use_block_cache(cache)
    wanted = [3, 17, 40, 5, 50, 11, 29, 0]  # all in the first chunk row (rows 0..127)
    got = _concurrently(len(wanted), lambda n: attributions.attribution(wanted[n]))
    assert cache.decodes == 1
    for index, value in zip(wanted, got, strict=True):
        expected = serial.attribution(index)
        assert value.dtype == expected.dtype == np.float32
        assert value.tobytes() == expected.tobytes()
    # later rows of that chunk row, and a second chunk row
    later = [127, 100, 64, 200, 130]
    got = _concurrently(len(later), lambda n: attributions.attribution(later[n]))
    for index, value in zip(later, got, strict=True):
        assert value.tobytes() == serial.attribution(index).tobytes()
    # a chunk row is inflated at most twice: its early rows alone, then whole (when a late row
    # asks and the faster whole decoder beats finishing the prefix), and never after it is held
    assert cache.decodes <= 4
    decoded = cache.decodes
    everything = _concurrently(8, lambda n: [attributions.attribution(i) for i in range(n, 256, 8)])
    for n, values_of_thread in enumerate(everything):
        for index, value in zip(range(n, 256, 8), values_of_thread, strict=True):
            assert value.tobytes() == serial.attribution(index).tobytes()
    assert len(cache) == 2
    assert cache.decodes <= decoded + 2
    again = cache.decodes
    for index in range(256):
        attributions.attribution(index)
    assert cache.decodes == again


def test_the_cache_stays_within_its_bound(tmp_path: Path) -> None:
    values = _virelay_layout(tmp_path / "virelay.h5")
    with h5py.File(tmp_path / "virelay.h5", "r") as file:
        dataset = file["attribution"]
        block_bytes = dataset.chunks[0] * SIDE * SIDE * 4
        cache = DecodedBlockCache(max_bytes=3 * block_bytes + 1)
        # 3 blocks fit, but a block above a quarter of the bound is never kept
        rows = BlockRows(cache, "bounded")
        for index in range(COUNT):
            np.testing.assert_array_equal(rows.row(dataset, index), values[index])
            assert cache.size <= cache.max_bytes
        assert len(cache) == 0
        cache = DecodedBlockCache(max_bytes=4 * block_bytes + 1)
        rows = BlockRows(cache, "bounded")
        for index in np.random.default_rng(5).permutation(COUNT).tolist():
            np.testing.assert_array_equal(rows.row(dataset, index), values[index])
            assert cache.size <= cache.max_bytes
        assert 1 <= len(cache) <= 4


def test_read_ahead_decodes_a_small_dataset_once_in_the_background(tmp_path: Path) -> None:
    values = _virelay_layout(tmp_path / "virelay.h5")
    with h5py.File(tmp_path / "virelay.h5", "r") as file:
        dataset = file["attribution"]
        blocks = -(-COUNT // dataset.chunks[0])
        cache = DecodedBlockCache(read_ahead_bytes=values.nbytes)
        rows = BlockRows(cache, "ahead")
        np.testing.assert_array_equal(rows.row(dataset, 1), values[1])
        assert cache.read_ahead is not None and cache.read_ahead.join(timeout=60)
        assert len(cache) == blocks
        decoded = cache.decodes
        assert decoded <= blocks + 1  # the first row's partial block may be finished or redone
        for index in range(COUNT):
            np.testing.assert_array_equal(rows.row(dataset, index), values[index])
        assert cache.decodes == decoded  # nothing decoded twice after that


def test_input_images_through_the_cache_equal_the_plain_reader(tmp_path: Path) -> None:
    rng = np.random.default_rng(6)
    pixels = rng.integers(0, 256, size=(300, 3, 20, 12), dtype=np.uint8)
    path = tmp_path / "input.h5"
    with h5py.File(path, "w") as file:
        file.create_dataset("data", data=pixels, chunks=True, compression="gzip")
        file.create_dataset("label", data=np.zeros(300, dtype=np.uint16))
    plain = Hdf5Inputs(path)
    cached = Hdf5Inputs(path)
    cache = DecodedBlockCache()
    cached.use_block_cache(cache)
    for index in np.random.default_rng(7).permutation(300).tolist():
        expected = plain.image(index)
        got = cached.image(index)
        assert got.tobytes() == expected.tobytes() and got.shape == (20, 12, 3)
    assert cache.decodes >= 1 and len(cache) >= 1


def test_the_fast_inflater_gives_zlibs_bytes() -> None:
    data = np.random.default_rng(8).normal(size=4096).astype(np.float32).tobytes()
    packed = zlib.compress(data, 4)
    assert chunk_blocks.INFLATE(packed) == data
    stream = chunk_blocks.INFLATER()
    head = stream.decompress(packed, 100)
    assert head == data[:100]
    assert head + stream.decompress(stream.unconsumed_tail) == data
