"""Analysis HDF5 files: round trip, validation errors naming file and key, atomic writes."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from relscope.core.analysis import category_analysis
from relscope.core.data.analysis import CategoryAnalysis, read_analysis, write_analysis
from relscope.core.errors import AnalysisFileError, ProcessorError


def _category(m: int = 5, seed: int = 0) -> CategoryAnalysis:
    rng = np.random.default_rng(seed)
    return CategoryAnalysis(
        index=np.arange(m) * 3,
        embeddings={"spectral": rng.normal(size=(m, 4)), "tsne": rng.normal(size=(m, 2))},
        eigenvalues={"spectral": np.array([1.0, 0.9, 0.5, 0.1])},
        clusterings={"kmeans-02": np.arange(m) % 2, "dbscan-eps=0.2": np.full(m, -1)},
    )


def test_round_trip_keeps_every_array_and_the_layout(tmp_path):
    path = tmp_path / "analysis.h5"
    write_analysis({"n01440764": _category(), "n00000001": _category(7, 1)}, path)
    with h5py.File(path, "r") as handle:  # the ViRelAy layout, nothing else at the top
        assert sorted(handle) == ["n00000001", "n01440764"]
        group = handle["n01440764"]
        assert sorted(group) == ["cluster", "embedding", "index"]
        np.testing.assert_allclose(
            group["embedding/spectral"].attrs["eigenvalue"], [1, 0.9, 0.5, 0.1]
        )
        assert "eigenvalue" not in group["embedding/tsne"].attrs
    analysis = read_analysis(path)
    original = _category()
    read = analysis.categories["n01440764"]
    np.testing.assert_array_equal(read.index, original.index)
    np.testing.assert_array_equal(read.embeddings["spectral"], original.embeddings["spectral"])
    np.testing.assert_array_equal(read.clusterings["dbscan-eps=0.2"], np.full(5, -1))
    assert read.eigenvalues["tsne"] is None
    assert analysis.embedding_names == ["spectral", "tsne"]
    assert analysis.cluster_names == ["dbscan-eps=0.2", "kmeans-02"]


def test_several_files_merge_and_a_category_twice_is_an_error(tmp_path):
    write_analysis({"a": _category()}, tmp_path / "one.h5")
    write_analysis({"b": _category()}, tmp_path / "two.h5")
    merged = read_analysis([tmp_path / "one.h5", tmp_path / "two.h5"])
    assert sorted(merged.categories) == ["a", "b"]
    with pytest.raises(AnalysisFileError, match=r"one\.h5: /a: category also in .*one\.h5"):
        read_analysis([tmp_path / "one.h5", tmp_path / "one.h5"])


def _stray_dataset(f: h5py.File) -> None:
    f.create_dataset("stray", data=[1])


def _no_index(f: h5py.File) -> None:
    del f["c/index"]


def _short_embedding(f: h5py.File) -> None:
    del f["c/embedding/tsne"]
    f["c/embedding"].create_dataset("tsne", data=np.ones((4, 2)))


def _float_clusters(f: h5py.File) -> None:
    del f["c/cluster/kmeans-02"]
    f["c/cluster"].create_dataset("kmeans-02", data=np.ones(5))


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (_stray_dataset, r"/stray: top-level keys must be category groups"),
        (_no_index, r"/c/index: missing"),
        (_short_embedding, r"/c/embedding/tsne: expected shape \(5, D\) with D >= 2, got \[4, 2\]"),
        (
            _float_clusters,
            r"/c/cluster/kmeans-02: expected \(5,\) integer cluster ids, got float64",
        ),
    ],
)
def test_a_malformed_file_names_file_and_key(tmp_path, damage, message):
    path = tmp_path / "bad.h5"
    write_analysis({"c": _category()}, path)
    with h5py.File(path, "r+") as handle:
        damage(handle)
    with pytest.raises(AnalysisFileError, match=rf"bad\.h5: {message}"):
        read_analysis(path)


def test_missing_and_non_hdf5_files_are_clear_errors(tmp_path):
    with pytest.raises(AnalysisFileError, match=r"nope\.h5: analysis file not found"):
        read_analysis(tmp_path / "nope.h5")
    (tmp_path / "text.h5").write_text("not hdf5")
    with pytest.raises(AnalysisFileError, match=r"text\.h5: not a readable HDF5 file"):
        read_analysis(tmp_path / "text.h5")


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    path = tmp_path / "analysis.h5"
    write_analysis({"c": _category()}, path)
    bad = _category()
    bad.clusterings["kmeans-03"] = np.zeros(2, dtype=int)  # wrong length: refused up front
    with pytest.raises(AnalysisFileError, match=r"/c/cluster/kmeans-03"):
        write_analysis({"c": bad}, path)
    with pytest.raises(AnalysisFileError, match="contain no '/'"):
        write_analysis({"a/b": _category()}, path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["analysis.h5"]
    assert "kmeans-03" not in read_analysis(path).categories["c"].clusterings


def test_pipeline_outputs_sort_into_embeddings_and_clusterings():
    rng = np.random.default_rng(0)
    outputs = {
        "spectral": (np.array([1.0, 0.5]), rng.normal(size=(6, 2))),
        "clustering": {
            "kmeans-02": np.arange(6) % 2,
            "agglomerative": {2: np.zeros(6, int), 3: np.arange(6) % 3},
        },
        "views": {"tsne": rng.normal(size=(6, 2))},
    }
    analysis = category_analysis(np.arange(6), outputs)
    assert sorted(analysis.embeddings) == ["spectral", "tsne"]
    assert sorted(analysis.clusterings) == ["agglomerative-02", "agglomerative-03", "kmeans-02"]
    np.testing.assert_array_equal(analysis.eigenvalues["spectral"], [1.0, 0.5])
    with pytest.raises(ProcessorError, match=r"pipeline output 'odd' \(float64\[6\] array\)"):
        category_analysis(np.arange(6), {"odd": np.ones(6)})
