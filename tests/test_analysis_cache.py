"""The analysis cache: every pipeline step is stored and read back on a re-run, keyed exactly."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from collections import Counter

import h5py
import numpy as np
import pytest
import scipy.sparse as sp
from threadpoolctl import threadpool_limits

from relscope.core.analysis import Parallel, Store, content_digest
from relscope.plugins.processors.affinities import RBFAffinity
from relscope.plugins.processors.clusterings import DBSCAN, Agglomerative, KMeans
from relscope.plugins.processors.embeddings import TSNE, EigenEmbedding, LeadingEigenvectors
from relscope.plugins.processors.laplacians import SymmetricLaplacian
from relscope.plugins.processors.neighbors import KNearestNeighbors
from relscope.plugins.processors.preprocessing import Flatten, NormalizePerSample, SumChannels
from relscope.plugins.processors.reduction import PCA
from relscope.plugins.processors.spray import Spray

STEP_CLASSES = [
    SumChannels,
    Flatten,
    NormalizePerSample,
    PCA,
    KNearestNeighbors,
    RBFAffinity,
    SymmetricLaplacian,
    EigenEmbedding,
    LeadingEigenvectors,
    KMeans,
    DBSCAN,
    Agglomerative,
    TSNE,
]
#: leaf steps of small_spray(): 3 preprocess + reduce, knn, affinity, laplacian, spectral
#: + 2 x (leading eigenvectors, k-means) + dbscan + agglomerative + tsne + pca view
LEAF_STEPS = 16


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """Counts real ``function`` calls per processor class (the real function still runs)."""
    counter: Counter[str] = Counter()
    for cls in STEP_CLASSES:

        def spy(self, data, _original=cls.function, _name=cls.__name__):
            counter[_name] += 1
            return _original(self, data)

        monkeypatch.setattr(cls, "function", spy)
    return counter


def small_spray(**changes) -> Spray:
    params = dict(n_eigval=4, n_neighbors=8, n_clusters=(2, 3), view_names=("tsne", "pca"))
    params.update(changes)
    return Spray(**params)


@pytest.fixture(scope="module")
def attributions() -> np.ndarray:
    rng = np.random.default_rng(3)
    data = rng.normal(size=(80, 2, 10, 10)).astype(np.float32)
    data[:20, :, :3, :3] += 4.0  # a subgroup, so the graph has structure
    return data


def _same(a, b) -> bool:
    return content_digest(a) == content_digest(b)


def test_second_run_reads_every_step_from_the_file(tmp_path, attributions, calls):
    first = small_spray()(attributions, io=Store(tmp_path / "cache.h5"))
    assert sum(calls.values()) == LEAF_STEPS
    assert calls["PCA"] == 2  # the reduction step and the 2-D pca view

    calls.clear()
    store = Store(tmp_path / "cache.h5")  # a fresh handle: everything comes from the file
    second = small_spray()(attributions, io=store)
    assert sum(calls.values()) == 0
    assert store.stats["hits"] == LEAF_STEPS and store.stats["misses"] == 0
    assert _same(first, second)


def test_identifying_param_reruns_exactly_the_affected_steps(tmp_path, attributions, calls):
    small_spray()(attributions, io=Store(tmp_path / "cache.h5"))
    calls.clear()
    small_spray(affinity=RBFAffinity(sigma=0.5))(attributions, io=Store(tmp_path / "cache.h5"))
    upstream = {"SumChannels", "Flatten", "NormalizePerSample", "KNearestNeighbors"}
    assert not upstream & set(calls)
    assert calls["RBFAffinity"] == 1 and calls["SymmetricLaplacian"] == 1
    assert calls["EigenEmbedding"] == 1 and calls["KMeans"] == 2 and calls["TSNE"] == 1
    assert calls["PCA"] == 1  # only the 2-D view, downstream of the new eigen-embedding

    calls.clear()  # the last step alone: only it re-runs
    views = Parallel({"tsne": TSNE(perplexity=10.0), "pca": PCA(2)}, broadcast=True)
    small_spray(views=views)(attributions, io=Store(tmp_path / "cache.h5"))
    assert dict(calls) == {"TSNE": 1}


def test_non_identifying_params_do_not_rerun(tmp_path, attributions, calls):
    small_spray()(attributions, io=Store(tmp_path / "cache.h5"))
    calls.clear()
    changed = small_spray(n_jobs=2, knn=KNearestNeighbors(8, n_jobs=1))
    changed.views.children["tsne"].n_jobs = 2
    changed(attributions, io=Store(tmp_path / "cache.h5"))
    assert sum(calls.values()) == 0


def _entry_of(handle: h5py.File, class_name: str) -> h5py.Group:
    matches = [
        entry
        for entry in handle["entries"].values()
        if str(entry.attrs["processor"]).endswith("." + class_name)
    ]
    assert len(matches) == 1
    return matches[0]


def test_corrupted_entry_is_detected_and_recomputed(tmp_path, attributions, calls, capsys):
    path = tmp_path / "cache.h5"
    first = small_spray()(attributions, io=Store(path))
    with h5py.File(path, "r+") as handle:
        vectors = _entry_of(handle, "EigenEmbedding")["value/000001"]
        vectors[0, 0] = vectors[0, 0] + 1.0  # bytes changed on disk, flag still "complete"
        del _entry_of(handle, "KNearestNeighbors").attrs["complete"]  # a torn write
    calls.clear()
    store = Store(path)
    again = small_spray()(attributions, io=store)
    assert dict(calls) == {"EigenEmbedding": 1, "KNearestNeighbors": 1}
    assert store.stats["corrupted"] == 1
    assert "invalid (content digest mismatch)" in capsys.readouterr().err
    assert _same(first, again)

    calls.clear()  # the rewritten entries now read back
    small_spray()(attributions, io=Store(path))
    assert sum(calls.values()) == 0


def test_store_round_trips_structured_outputs(tmp_path):
    store = Store(tmp_path / "c.h5")
    value = {
        "csr": sp.random(30, 20, density=0.1, format="csr", random_state=1),
        "coo": sp.random(5, 7, density=0.3, format="coo", random_state=2),
        "lil": sp.identity(4, format="lil"),
        3: (np.arange(6, dtype=np.int16).reshape(2, 3), [np.float32(1.5), None, "text", True]),
        "empty": np.zeros((0, 4)),
        "scalar": np.array(2.5),
    }
    digest = store.save("k", value)
    loaded, loaded_digest = store.load("k")
    assert loaded_digest == digest == content_digest(value)
    assert list(loaded) == list(value)
    assert loaded["csr"].format == "csr" and (loaded["csr"] != value["csr"]).nnz == 0
    assert loaded["lil"].format == "lil"
    assert isinstance(loaded[3], tuple) and isinstance(loaded[3][1], list)
    assert loaded[3][1][0].dtype == np.float32 and loaded[3][1][3] is True
    assert store.load("missing") is None


def test_outputs_that_reuse_the_input_bytes_are_stored_as_references(tmp_path):
    data = np.arange(24.0).reshape(2, 1, 3, 4)
    store = Store(tmp_path / "c.h5")
    flat = Flatten()(data, io=store)
    assert Flatten()(flat, io=store) is flat  # 2-D input passes through
    single = SumChannels()(data, io=store)  # one channel: a view, no sum
    np.testing.assert_array_equal(single, data[:, 0])
    with h5py.File(tmp_path / "c.h5", "r") as handle:
        kinds = sorted(str(e["value"].attrs["kind"]) for e in handle["entries"].values())
    assert kinds == ["input", "reshape", "reshape"]  # no array bytes were written
    again = Store(tmp_path / "c.h5")
    np.testing.assert_array_equal(Flatten()(data, io=again), data.reshape(2, 12))
    np.testing.assert_array_equal(SumChannels()(data, io=again), data[:, 0])
    assert again.stats["hits"] == 2


WRITER = textwrap.dedent(
    """
    import sys, numpy as np
    from relscope.core.analysis import Store
    store = Store(sys.argv[1])
    i = 0
    while True:
        store.save(f"k{i}", np.full((300, 400), float(i)))
        i += 1
    """
)

READER = textwrap.dedent(
    """
    import sys, numpy as np
    from relscope.core.analysis import Store
    store = Store(sys.argv[1])
    checked = 0
    for _ in range(4):
        for i in range(40):
            hit = store.load(f"k{i}")
            if hit is not None:
                assert np.array_equal(hit[0], np.full((300, 400), float(i))), i
                checked += 1
    print(checked)
    """
)


@pytest.fixture(autouse=True)
def _one_thread():
    """BLAS/OpenMP on one thread: on a busy shared machine extra threads only spin."""
    with threadpool_limits(1):
        yield


def test_a_killed_writer_never_leaves_an_entry_that_reads_back_wrong(tmp_path):
    path = tmp_path / "c.h5"
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(path)])
    try:
        deadline = time.monotonic() + 60
        while len(Store(path).keys()) < 4 and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.03)
    finally:
        writer.kill()  # SIGKILL, most likely in the middle of a save
        writer.wait()
    store = Store(path)
    found = 0
    for i in range(200):
        hit = store.load(f"k{i}")
        if hit is not None:
            found += 1
            assert np.array_equal(hit[0], np.full((300, 400), float(i)))
    assert found >= 4
    store.save("after", np.ones(3))  # the file stays usable for writing
    assert np.array_equal(store.load("after")[0], np.ones(3))


def test_concurrent_readers_see_only_exact_values_while_a_writer_adds(tmp_path):
    path = tmp_path / "c.h5"
    store = Store(path)
    for i in range(20):
        store.save(f"k{i}", np.full((300, 400), float(i)))
    readers = [
        subprocess.Popen(
            [sys.executable, "-c", READER, str(path)], stdout=subprocess.PIPE, text=True
        )
        for _ in range(2)
    ]
    for i in range(20, 40):  # written while the readers read
        store.save(f"k{i}", np.full((300, 400), float(i)))
    for reader in readers:
        out, _ = reader.communicate(timeout=120)
        assert reader.returncode == 0
        assert int(out) >= 4 * 20  # at least the entries that existed before they started


def test_threaded_parallel_with_a_shared_cache_matches_serial(tmp_path, attributions):
    embedding = small_spray(clustering=KMeans(2), views=PCA(2))(attributions)["spectral"][1]
    children = {f"k{k}": KMeans(k) for k in (2, 3, 4, 5)}
    serial = Parallel(children, broadcast=True)(embedding)
    threaded = Parallel(children, broadcast=True, n_jobs=4)(embedding, io=Store(tmp_path / "c.h5"))
    cached = Parallel(children, broadcast=True, n_jobs=4)(embedding, io=Store(tmp_path / "c.h5"))
    assert _same(serial, threaded) and _same(serial, cached)
