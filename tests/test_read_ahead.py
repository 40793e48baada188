"""The background read-ahead of small datasets: it decodes every chunk row once, holds back while
requests are in flight, drops a row part-way when one arrives, never waits on a row a request
decodes, and stays within its budgets.

Files are real (h5py, ViRelAy's layout); expected values are h5py's own reads.
"""

from __future__ import annotations

import pickle
import threading
import time
from pathlib import Path

import h5py
import numpy as np
import pytest

from relscope.core.data import chunk_blocks
from relscope.core.data.attributions import AttributionSet
from relscope.core.data.chunk_blocks import BlockRows, DecodedBlockCache
from relscope.core.data.inputs import Hdf5Inputs
from relscope.core.data.read_ahead import QUIET_S
from tests.test_chunk_blocks import COUNT, _virelay_layout


def _blocks_of(path: Path) -> int:
    with h5py.File(path, "r") as file:
        return -(-COUNT // file["attribution"].chunks[0])


def test_a_queued_dataset_is_decoded_whole_before_any_read(tmp_path: Path) -> None:
    values = _virelay_layout(tmp_path / "virelay.h5")
    blocks = _blocks_of(tmp_path / "virelay.h5")
    with h5py.File(tmp_path / "virelay.h5", "r") as file:
        dataset = file["attribution"]
        cache = DecodedBlockCache(read_ahead_bytes=values.nbytes)
        rows = BlockRows(cache, "ahead")
        assert rows.read_ahead(dataset)
        assert cache.read_ahead is not None and cache.read_ahead.join(timeout=60)
        # every chunk row decoded once, by the read-ahead, with no row read yet
        assert len(cache) == blocks and cache.decodes == blocks
        assert cache.read_ahead.decoded == blocks
        for index in np.random.default_rng(3).permutation(COUNT).tolist():
            np.testing.assert_array_equal(rows.row(dataset, index), values[index])
        assert cache.decodes == blocks  # every read was a slice of a held block


def test_the_read_ahead_holds_back_while_a_request_is_in_flight(tmp_path: Path) -> None:
    values = _virelay_layout(tmp_path / "virelay.h5")
    blocks = _blocks_of(tmp_path / "virelay.h5")
    with h5py.File(tmp_path / "virelay.h5", "r") as file:
        dataset = file["attribution"]
        cache = DecodedBlockCache(read_ahead_bytes=values.nbytes)
        ahead = cache.read_ahead
        assert ahead is not None
        ahead.request_started()  # as the explorer's middleware does for every request
        rows = BlockRows(cache, "held")
        assert rows.read_ahead(dataset)
        time.sleep(10 * QUIET_S)
        assert cache.decodes == 0 and not ahead.join(timeout=0)
        # a request's own read is decoded at once, by its thread
        np.testing.assert_array_equal(rows.row(dataset, COUNT - 1), values[COUNT - 1])
        assert cache.decodes == 1 and ahead.decoded == 0
        ahead.request_finished()
        assert ahead.join(timeout=60)
        # the read-ahead decoded the others, and not the row the request had decoded
        assert len(cache) == blocks and cache.decodes == blocks
        assert ahead.decoded == blocks - 1


def test_the_read_ahead_skips_a_row_a_request_is_decoding() -> None:
    cache = DecodedBlockCache()
    started, release = threading.Event(), threading.Event()

    def slow_decode() -> np.ndarray:
        started.set()
        release.wait(timeout=30)
        return np.arange(4.0)

    request = threading.Thread(target=cache.get_or_decode, args=("row", slow_decode))
    request.start()
    assert started.wait(timeout=30)
    began = time.perf_counter()
    assert not cache.decode_if_absent("row", lambda: np.zeros(4))  # pending: skipped
    assert time.perf_counter() - began < 1.0  # without waiting for the request's decode
    release.set()
    request.join(timeout=30)
    assert not cache.decode_if_absent("row", lambda: np.zeros(4))  # held: skipped
    np.testing.assert_array_equal(cache.get("row"), np.arange(4.0))
    assert cache.decode_if_absent("other", lambda: np.ones(4))
    np.testing.assert_array_equal(cache.get("other"), np.ones(4))


def test_datasets_beyond_the_budgets_are_left_to_the_requests(tmp_path: Path) -> None:
    values = _virelay_layout(tmp_path / "a.h5")
    _virelay_layout(tmp_path / "b.h5", seed=1)
    with h5py.File(tmp_path / "a.h5", "r") as a, h5py.File(tmp_path / "b.h5", "r") as b:
        # larger than the per-dataset bound: not queued, nothing decoded
        small = DecodedBlockCache(read_ahead_bytes=values.nbytes - 1)
        assert not BlockRows(small, "a").read_ahead(a["attribution"])
        assert small.read_ahead is not None and small.read_ahead.join(timeout=60)
        assert small.decodes == 0 and small.read_ahead.reserved == 0
        # both fit the per-dataset bound, only one the total budget
        cache = DecodedBlockCache(read_ahead_bytes=values.nbytes, read_ahead_budget=values.nbytes)
        assert BlockRows(cache, "a").read_ahead(a["attribution"])
        assert not BlockRows(cache, "b").read_ahead(b["attribution"])
        assert cache.read_ahead is not None and cache.read_ahead.join(timeout=60)
        assert cache.read_ahead.reserved == values.nbytes
        assert cache.decodes == cache.read_ahead.decoded == -(-COUNT // a["attribution"].chunks[0])


def test_sources_queue_their_datasets_and_still_pickle(tmp_path: Path) -> None:
    values = _virelay_layout(tmp_path / "attribution.h5")
    with h5py.File(tmp_path / "input.h5", "w") as file:
        file.create_dataset("data", data=np.abs(values), chunks=True, compression="gzip")
        file.create_dataset("label", data=np.zeros(COUNT, dtype=np.uint16))
    cache = DecodedBlockCache(read_ahead_bytes=values.nbytes)
    inputs = Hdf5Inputs(tmp_path / "input.h5")
    attributions = AttributionSet(tmp_path / "attribution.h5")
    plain = AttributionSet(tmp_path / "attribution.h5")
    assert not inputs.start_read_ahead()  # no block cache yet
    inputs.use_block_cache(cache)
    attributions.use_block_cache(cache)
    assert attributions.start_read_ahead() == 1 and inputs.start_read_ahead()
    assert cache.read_ahead is not None and cache.read_ahead.join(timeout=60)
    assert cache.read_ahead.reserved == 2 * values.nbytes
    assert cache.decodes == 2 * _blocks_of(tmp_path / "attribution.h5")
    for index in (0, COUNT // 2, COUNT - 1):
        assert attributions.attribution(index).tobytes() == plain.attribution(index).tobytes()
    # the looked-up dataset node stays with its process: a pickled source reads on its own
    copy = pickle.loads(pickle.dumps(inputs))
    np.testing.assert_array_equal(copy.raw(7), np.abs(values[7]))
    inputs.close()
    np.testing.assert_array_equal(inputs.raw(8), np.abs(values[8]))  # reopened: a fresh node


def test_a_request_makes_the_read_ahead_drop_the_row_it_is_decoding(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    values = _virelay_layout(tmp_path / "virelay.h5")
    blocks = _blocks_of(tmp_path / "virelay.h5")
    inflate = chunk_blocks.INFLATE
    inside, proceed = threading.Event(), threading.Event()

    def gated(data: bytes, bufsize: int) -> bytes:
        if threading.current_thread().name == "read-ahead" and not proceed.is_set():
            inside.set()  # the read-ahead is part-way through its first chunk row
            proceed.wait(timeout=30)
        return inflate(data, bufsize=bufsize)

    monkeypatch.setattr(chunk_blocks, "INFLATE", gated)
    with h5py.File(tmp_path / "virelay.h5", "r") as file:
        dataset = file["attribution"]
        cache = DecodedBlockCache(read_ahead_bytes=values.nbytes)
        ahead = cache.read_ahead
        assert ahead is not None
        rows = BlockRows(cache, "dropped")
        assert rows.read_ahead(dataset)
        assert inside.wait(timeout=30)
        ahead.request_started()  # a request arrives while row 0's block is being decoded
        proceed.set()
        # the request's own read of that block is not left waiting on the read-ahead's decode
        last = dataset.chunks[0] - 1  # the block's last row: decoded whole, then held
        np.testing.assert_array_equal(rows.row(dataset, last), values[last])
        assert ahead.decoded == 0
        ahead.request_finished()
        assert ahead.join(timeout=60)
        assert ahead.yielded == 1
        assert len(cache) == blocks and ahead.decoded == blocks - 1
        assert cache.decodes == blocks  # the dropped, half-done decode is not counted
