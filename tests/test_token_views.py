"""SpRAy on token relevance: the bag-of-relevance and per-position views against hand-computed
values, and ``relscope analyze --task preprocess=token_bag`` on a real token attribution file
finding a planted token in the usual analysis layout."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest
from sklearn.metrics import adjusted_rand_score

from relscope.core.cli.main import main
from relscope.core.data.analysis import read_analysis
from relscope.core.errors import ProcessorError
from relscope.plugins.processors.token_views import TokenBagOfRelevance, TokenPositions

BATCH = {
    "relevance": np.array([[1.0, 2.0, -1.0, 0.0], [0.5, 0.5, 3.0, 0.0]], dtype=np.float32),
    "input_ids": np.array([[2, 1, 2, 0], [1, 1, 3, 0]]),
}


def test_bag_of_relevance_sums_per_id_by_hand() -> None:
    bag = TokenBagOfRelevance(vocabulary_size=5, norm="none")(BATCH)
    # sample 0: id 2 gets 1 - 1 = 0, id 1 gets 2; sample 1: id 1 gets 0.5 + 0.5, id 3 gets 3
    np.testing.assert_array_equal(bag, [[0, 2, 0, 0, 0], [0, 1, 0, 3, 0]])
    l2 = TokenBagOfRelevance(vocabulary_size=5)(BATCH)
    np.testing.assert_allclose(l2[1], np.array([0, 1, 0, 3, 0]) / np.sqrt(10), rtol=1e-6)
    assert TokenBagOfRelevance()(BATCH).shape == (2, 4)  # highest id + 1


def test_positions_view_is_the_normalised_relevance() -> None:
    view = TokenPositions(norm="l1")(BATCH)
    np.testing.assert_allclose(view[0], np.array([1, 2, -1, 0]) / 4)


def test_token_views_refuse_images_and_images_refuse_token_batches() -> None:
    with pytest.raises(ProcessorError, match="expected token relevance"):
        TokenBagOfRelevance()(np.zeros((2, 1, 4, 4)))
    from relscope.plugins.processors.preprocessing import SumChannels

    with pytest.raises(ProcessorError, match="--task preprocess=token_bag"):
        SumChannels()(BATCH)


def test_analyze_with_the_bag_view_separates_a_planted_token(tmp_path) -> None:
    rng = np.random.default_rng(0)
    n, length = 120, 12
    ids = rng.integers(1, 30, size=(n, length))
    relevance = rng.normal(scale=0.3, size=(n, length)).astype(np.float32)
    planted = rng.random(n) < 0.4
    ids[planted, -1] = 35  # the planted token, carrying most of the relevance
    relevance[planted, -1] = 3.0
    with h5py.File(tmp_path / "attribution.h5", "w") as file:
        file["attribution"] = relevance
        file["input_ids"] = ids
        file["prediction"] = rng.normal(size=(n, 2)).astype(np.float32)
        file["label"] = np.ones(n, dtype=np.int64)
    (tmp_path / "labels.json").write_text(
        json.dumps([{"index": i, "word_net_id": f"c{i}", "name": f"c{i}"} for i in range(2)])
    )
    code = main(
        ["analyze", str(tmp_path / "attribution.h5"), "--label-map", str(tmp_path / "labels.json"),
         "--out", str(tmp_path / "analysis.h5"), "--task", "preprocess=token_bag",
         "--n-eigval", "6", "--n-neighbors", "8", "--clusters", "2..3", "--quiet"]
    )  # fmt: skip
    assert code == 0
    analysis = read_analysis(tmp_path / "analysis.h5")
    category = analysis.categories["c1"]
    np.testing.assert_array_equal(category.index, np.arange(n))
    best = max(adjusted_rand_score(planted, labels) for labels in category.clusterings.values())
    assert best >= 0.9
