"""A cached and an uncached ``relscope analyze`` write bit-identical files: every registered
pipeline with its default tasks, on several categories, compared dataset by dataset.

Three caches: none, a fresh one, and one that a run with a replaced last task filled before (so
the earlier steps come from the cache and the later ones are computed from what it returned)."""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
import pytest
from threadpoolctl import threadpool_limits

from relscope.core.analysis import Pipeline
from relscope.core.cli.main import main
from relscope.core.registry import get_registry

CATEGORIES = 4
PER_CATEGORY = 60
FAST = ["--n-eigval", "6", "--n-neighbors", "8", "--clusters", "2..4", "--quiet"]


def _pipelines() -> list[str]:
    registry = get_registry("processors")
    names = []
    for name in registry:
        spec = registry.lookup(name)
        if isinstance(spec, type) and issubclass(spec, Pipeline):
            names.append(name)
    return sorted(names)


def _write_inputs(folder: Path) -> None:
    """Attributions with a planted pattern in half of each category's samples."""
    rng = np.random.default_rng(7)
    n = CATEGORIES * PER_CATEGORY
    labels = np.arange(n) % CATEGORIES
    attribution = rng.normal(scale=0.2, size=(n, 1, 12, 12)).astype(np.float32)
    planted = rng.random(n) < 0.5
    for category in range(CATEGORIES):
        rows = planted & (labels == category)
        attribution[rows, :, category : category + 3, 2:5] += 1.0
    with h5py.File(folder / "attribution.h5", "w") as handle:
        handle["attribution"] = attribution
        handle["prediction"] = rng.normal(size=(n, CATEGORIES)).astype(np.float32)
        handle["label"] = labels
    label_map = [
        {"index": i, "word_net_id": f"n0000001{i}", "name": f"class-{i}"} for i in range(CATEGORIES)
    ]
    (folder / "label-map.json").write_text(json.dumps(label_map))


def _datasets(path: Path) -> dict[str, tuple[str, tuple, bytes, dict]]:
    """Every dataset of an HDF5 file: dtype, shape, bytes and attributes."""
    found: dict[str, tuple[str, tuple, bytes, dict]] = {}

    def visit(name: str, node: object) -> None:
        if isinstance(node, h5py.Dataset):
            value = np.asarray(node[()])
            attrs = {k: np.asarray(v).tobytes() for k, v in node.attrs.items()}
            found[name] = (value.dtype.str, value.shape, value.tobytes(), attrs)

    with h5py.File(path, "r") as handle:
        handle.visititems(visit)
    return found


@pytest.mark.parametrize("pipeline", _pipelines())
def test_cached_and_uncached_runs_write_identical_files(tmp_path: Path, pipeline: str) -> None:
    _write_inputs(tmp_path)
    base = [
        "analyze",
        str(tmp_path / "attribution.h5"),
        "--label-map",
        str(tmp_path / "label-map.json"),
        "--pipeline",
        pipeline,
        *FAST,
    ]
    last_task = get_registry("processors").lookup(pipeline).task_names()[-1]
    cold, primed = str(tmp_path / "cold.h5.cache"), str(tmp_path / "primed.h5.cache")
    with threadpool_limits(1):
        prime = [*base, "--task", f"{last_task}=pca", "--out", str(tmp_path / "prime.h5")]
        assert main([*prime, "--cache", primed]) == 0
        assert main([*base, "--out", str(tmp_path / "cold.h5"), "--cache", cold]) == 0
        assert main([*base, "--out", str(tmp_path / "warm.h5"), "--cache", primed]) == 0
        assert main([*base, "--out", str(tmp_path / "none.h5")]) == 0
    cold, warm, none = (_datasets(tmp_path / f"{n}.h5") for n in ("cold", "warm", "none"))
    assert len({name.split("/")[0] for name in cold}) == CATEGORIES
    assert any(name.endswith("embedding/pca") for name in cold)
    assert sorted(cold) == sorted(warm) == sorted(none)
    differing = [name for name in cold if not cold[name] == warm[name] == none[name]]
    assert differing == []
