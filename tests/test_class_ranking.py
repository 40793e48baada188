"""Class ranking: the Fisher separability of each clustering, written to the analysis file by
``relscope analyze`` (a replaceable SpRAy task), and the categories ranked by their best one."""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest
from threadpoolctl import threadpool_limits

from relscope.core.analysis import Param, Processor, category_analysis, processor
from relscope.core.analysis.ranking import rank_categories
from relscope.core.cli.main import main
from relscope.core.data.analysis import read_analysis, write_analysis
from relscope.core.errors import AnalysisFileError
from relscope.plugins.processors.separability import (
    FisherSeparability,
    ZeroVarianceWarning,
    fisher_separability,
    smallest_cluster,
)
from relscope.plugins.processors.spray import Spray

# the 2-D views are not what is tested here: the eigen-embedding itself stands in for them
FAST = ["--n-eigval", "8", "--n-neighbors", "8", "--clusters", "2..5", "--task", "views=pca"]


@pytest.fixture(autouse=True)
def _one_thread():
    with threadpool_limits(1):
        yield


# -- the score -----------------------------------------------------------------------------------


def test_fisher_ratio_of_two_clusters_is_hand_computed() -> None:
    # 1-D: clusters {0, 2} and {10, 12}: means 1 and 11, variances 1 and 1 -> 10^2 / (1 + 1)
    points = np.array([[0.0], [2.0], [10.0], [12.0]])
    assert fisher_separability(points, np.array([0, 0, 1, 1])) == pytest.approx(50.0, rel=1e-6)
    # 2-D, the second axis is not on the line joining the centroids: it must not count
    points = np.array([[0.0, 0.0], [2.0, 5.0], [10.0, -7.0], [12.0, 9.0]])
    means_gap = np.array([11.0, 1.0]) - np.array([1.0, 2.5])
    w = means_gap / np.linalg.norm(means_gap)
    a, b = points[:2] @ w, points[2:] @ w
    expected = (means_gap @ means_gap) / (a.var() + b.var())
    assert fisher_separability(points, np.array([0, 0, 1, 1])) == pytest.approx(expected, rel=1e-6)


def test_the_score_is_the_least_separated_pair_and_skips_noise_and_singletons() -> None:
    points = np.array([[0.0], [2.0], [10.0], [12.0], [13.0], [15.0], [100.0], [-50.0]])
    labels = np.array([0, 0, 1, 1, 2, 2, 3, -1])  # 3 is a singleton, -1 noise
    # pairs: (0,1) 100/2 = 50, (1,2) 3^2/2 = 4.5, (0,2) 13^2/2 = 84.5 -> 4.5
    assert fisher_separability(points, labels) == pytest.approx(4.5, rel=1e-6)
    assert fisher_separability(points, np.zeros(8, int)) is None  # one cluster: not scored
    assert fisher_separability(points, np.arange(8)) is None  # only singletons


def test_a_few_outliers_are_no_cluster_of_their_own() -> None:
    rng = np.random.default_rng(3)
    blob = rng.normal(size=(200, 3))
    blob[:3] += 40.0  # three far outliers: 1.5 % of the category
    outliers = (np.arange(200) < 3).astype(int)
    halves = (blob[:, 0] > np.median(blob[:, 0])).astype(int)
    assert smallest_cluster(200) == 10 and smallest_cluster(20) == 2
    scores = FisherSeparability()((blob, (np.ones(3), blob), {"out": outliers, "half": halves}))
    assert set(scores) == {"half"}  # the outlier split has one cluster of 10 or more: skipped
    loose = FisherSeparability(min_fraction=0.0)((blob, (np.ones(3), blob), {"out": outliers}))
    assert loose["out"] > 100 * scores["half"]  # what the outliers would have scored


def test_more_pieces_of_one_blob_do_not_score_higher() -> None:
    rng = np.random.default_rng(0)
    line = np.sort(rng.uniform(0, 1, 2000))[:, None]
    scores = [
        fisher_separability(line, np.minimum((line[:, 0] * k).astype(int), k - 1))
        for k in (2, 4, 8)
    ]
    # equal-width pieces of a uniform segment: J = 6 for every k (distance (1/k)^2, variances 2/(12 k^2))
    np.testing.assert_allclose(scores, 6.0, rtol=0.15)


# -- the analysis file ---------------------------------------------------------------------------


def write_categories(folder: Path, n: int = 60, seed: int = 0, small: int = 0) -> None:
    """Four categories: category 2 has two well-separated groups of attributions, the others one
    blob; with ``small``, category 3 has only that many samples."""
    rng = np.random.default_rng(seed)
    sizes = [n, n, n, small or n]
    labels = np.concatenate([np.full(s, c) for c, s in enumerate(sizes)])
    base = np.zeros((1, 8, 8), np.float32)
    base[:, 3:5, 3:5] = 1.0
    attribution = base + rng.normal(scale=0.3, size=(len(labels), 1, 8, 8)).astype(np.float32)
    twos = np.flatnonzero(labels == 2)
    attribution[twos[: n // 2], :, 0:3, 0:3] += 3.0
    with h5py.File(folder / "attribution.h5", "w") as handle:
        handle["attribution"] = attribution
        handle["prediction"] = rng.normal(size=(len(labels), 4)).astype(np.float32)
        handle["label"] = labels
    label_map = [{"index": i, "word_net_id": f"c{i}", "name": f"class {i}"} for i in range(4)]
    (folder / "label-map.json").write_text(json.dumps(label_map))


def analyze(folder: Path, *extra: str) -> int:
    return main(
        [
            "analyze",
            str(folder / "attribution.h5"),
            "--label-map",
            str(folder / "label-map.json"),
            "--out",
            str(folder / "analysis.h5"),
            "--min-points",
            "3",
            *FAST,
            *extra,
        ]
    )


def test_the_two_group_category_ranks_first_with_its_two_cluster_clustering(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_categories(tmp_path)
    assert analyze(tmp_path) == 0
    analysis = read_analysis(tmp_path / "analysis.h5")
    ranks = rank_categories(analysis.categories)
    assert ranks[0].category == "c2"
    assert ranks[0].clustering in ("kmeans-02", "agglomerative-02")
    assert ranks[0].score > 2 * ranks[1].score
    with h5py.File(tmp_path / "analysis.h5", "r") as handle:
        for category, part in analysis.categories.items():
            group = handle[category]
            stored = {
                name: float(item.attrs["separability"])
                for name, item in group["cluster"].items()
                if "separability" in item.attrs
            }
            assert stored == part.separability
            assert {
                f"{kind}-0{k}" for kind in ("kmeans", "agglomerative") for k in (2, 3, 4, 5)
            } <= set(stored)
            assert float(group.attrs["separability"]) == max(stored.values())
    # the command ends with the ranking, best first; per-step timings only with --verbose
    err = capsys.readouterr().err
    ranking = err[err.index("ranked by separability") :].splitlines()[1:5]
    assert [line.split(".", 1)[1].split()[0] for line in ranking] == [r.category for r in ranks]
    assert f"({ranks[0].clustering})" in ranking[0]
    assert "spectral: " not in err and "points, best" in err
    assert analyze(tmp_path, "--verbose") == 0
    assert "spectral: " in capsys.readouterr().err


def test_a_category_smaller_than_the_largest_k_gets_finite_scores(tmp_path: Path) -> None:
    write_categories(tmp_path, small=4)  # 4 points, clusterings up to 5
    assert analyze(tmp_path, "--n-neighbors", "3") == 0
    part = read_analysis(tmp_path / "analysis.h5").categories["c3"]
    assert part.separability, "the 2-cluster clusterings are scored"
    assert all(np.isfinite(v) for v in part.separability.values())
    for name, labels in part.clusterings.items():
        ids, counts = np.unique(labels[labels >= 0], return_counts=True)
        scorable = (counts >= smallest_cluster(len(part))).sum() >= 2
        assert (name in part.separability) == scorable, name


def test_all_equal_attributions_score_zero_with_a_warning(tmp_path: Path) -> None:
    write_categories(tmp_path)
    with h5py.File(tmp_path / "attribution.h5", "r+") as handle:
        values = handle["attribution"][:]
        values[handle["label"][:] == 1] = 0.25  # category c1: zero variance
        handle["attribution"][...] = values
    with pytest.warns(ZeroVarianceWarning):
        assert analyze(tmp_path) == 0
    analysis = read_analysis(tmp_path / "analysis.h5")
    assert set(analysis.categories["c1"].separability.values()) == {0.0}
    assert rank_categories(analysis.categories)[-1].category == "c1"
    with h5py.File(tmp_path / "analysis.h5", "r") as handle:

        def no_nan(name: str, item: Any) -> None:
            if isinstance(item, h5py.Dataset) and item.dtype.kind == "f":
                assert np.isfinite(item[()]).all(), name
            for key, value in item.attrs.items():
                assert np.isfinite(np.asarray(value, dtype=float)).all(), f"{name}@{key}"

        handle.visititems(no_nan)


@processor
class CentroidGap(Processor):
    """A replacement score (a test plugin): distance between the first two cluster centroids."""

    scale: float = Param(float, 1.0)

    def function(self, data: Any) -> Any:
        _, (_, vectors), clusterings = data
        labels = clusterings["kmeans-02"]
        gap = vectors[labels == 0].mean(0) - vectors[labels == 1].mean(0)
        return {"kmeans-02": self.scale * float(np.linalg.norm(gap))}


def test_the_separability_task_is_replaceable() -> None:
    rng = np.random.default_rng(1)
    data = rng.normal(size=(40, 1, 6, 6)).astype(np.float32)
    default = Spray(n_clusters=(2, 3), view_names=("pca",), n_neighbors=6, n_eigval=6)
    replaced = Spray(
        n_clusters=(2, 3), view_names=("pca",), n_neighbors=6, n_eigval=6,
        separability=CentroidGap(scale=2.0),
    )  # fmt: skip
    scores = default(data)["separability"]
    assert set(scores) == {"kmeans-02", "kmeans-03", "agglomerative-02", "agglomerative-03"}
    outputs = replaced(data)
    vectors, labels = outputs["spectral"][1], outputs["clustering"]["kmeans-02"]
    gap = vectors[labels == 0].astype(float).mean(0) - vectors[labels == 1].astype(float).mean(0)
    assert outputs["separability"] == {"kmeans-02": pytest.approx(2 * np.linalg.norm(gap))}
    part = category_analysis(np.arange(40), outputs)
    assert part.separability == outputs["separability"]
    assert part.best_clustering == ("kmeans-02", outputs["separability"]["kmeans-02"])


def test_a_score_for_an_unknown_clustering_or_a_nan_is_refused(tmp_path: Path) -> None:
    part = category_analysis(
        np.arange(3), {"cluster": {"k2": np.array([0, 0, 1])}, "s": {"k2": 1.5}}
    )
    assert part.separability == {"k2": 1.5}
    part.separability["k2"] = float("nan")
    with pytest.raises(AnalysisFileError, match="k2.*finite"):
        write_analysis({"c": part}, tmp_path / "a.h5")
    assert not (tmp_path / "a.h5").exists()
    with pytest.raises(Exception, match="lacks"):
        category_analysis(np.arange(3), {"cluster": {"k2": np.array([0, 0, 1])}, "s": {"k9": 1.0}})


def test_zero_variance_warning_is_raised_by_the_processor() -> None:
    features = np.ones((6, 4))
    vectors = np.random.default_rng(0).normal(size=(6, 3))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        scores = FisherSeparability()(
            (features, (np.ones(3), vectors), {"k": np.array([0, 0, 0, 1, 1, 1])})
        )
    assert scores == {"k": 0.0}
    assert any(issubclass(w.category, ZeroVarianceWarning) for w in caught)
