"""Shared by the tests of ``relscope analyze`` on several processes: the digits attributions
they analyse, the command line, and array-for-array equality of two analysis files."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from relscope.core.cli.main import main
from tests.conftest import FIXTURES

SETTINGS = ["--n-eigval", "4", "--n-neighbors", "5", "--clusters", "2..3", "--threads", "1"]
CATEGORIES = 10  # digits: 200 samples hold every class with >= 10 points


def write_digits_attributions(folder: Path) -> Path:
    """Attributions of 200 built-in digits by the tiny test CNN, with label map and project."""
    sys.path.insert(0, str(FIXTURES))
    try:
        code = main(
            ["attribute", "--model", "relscope_test_models:tiny_cnn", "--data", "builtin:digits",
             "--composite", "epsilon_plus_flat", "--limit", "200", "--batch-size", "50",
             "--workers", "0", "--quiet", "--out", str(folder / "attribution.h5"),
             "--project", str(folder / "project.yaml")]
        )  # fmt: skip
    finally:
        sys.path.remove(str(FIXTURES))
    assert code == 0
    return folder


def analyze_arguments(folder: Path, out: Path, *extra: str) -> list[str]:
    """``relscope analyze`` of the digits attributions in ``folder`` into ``out``."""
    return ["analyze", str(folder / "attribution.h5"), "--label-map",
            str(folder / "label-map.json"), "--out", str(out), *SETTINGS, *extra]  # fmt: skip


def assert_same_analysis(analysis, expected) -> None:
    """Every category, index, embedding, clustering and eigenvalue array equal, dtype included."""
    assert list(analysis.categories) == list(expected.categories)
    assert len(expected.categories) == CATEGORIES
    for name, want in expected.categories.items():
        got = analysis.categories[name]
        assert np.array_equal(got.index, want.index), name
        for kind in ("embeddings", "clusterings", "eigenvalues"):
            mine, theirs = getattr(got, kind), getattr(want, kind)
            assert sorted(mine) == sorted(theirs), (name, kind)
            for key, value in theirs.items():
                if value is None:
                    assert mine[key] is None
                else:
                    assert mine[key].dtype == value.dtype, (name, key)
                    assert np.array_equal(mine[key], value), (name, kind, key)
