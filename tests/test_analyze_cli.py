"""``relscope analyze``: real files in, an analysis file (and project entry) out."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap

import h5py
import numpy as np
import pytest
import yaml
from sklearn.metrics import adjusted_rand_score
from threadpoolctl import threadpool_limits

from relscope.core.cli.main import main
from relscope.core.data.analysis import read_analysis
from relscope.core.data.project import read_project

ONE_THREAD = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
FAST = ["--n-eigval", "6", "--n-neighbors", "8", "--clusters", "2..4"]


@pytest.fixture(autouse=True)
def _one_thread():
    """BLAS/OpenMP on one thread: on a busy shared machine extra threads only spin."""
    with threadpool_limits(1):
        yield


def write_inputs(folder, n=180, seed=0):
    """An attribution file (3 classes, dataset indices shuffled) and its label map.

    Class 1 has a planted artefact: a third of its samples with relevance in one corner."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 3
    index = rng.permutation(n) + 1000  # dataset indices differ from row numbers
    attribution = rng.normal(scale=0.2, size=(n, 1, 8, 8)).astype(np.float32)
    attribution[:, :, 3:5, 3:5] += 1.0
    artefact = (labels == 1) & (rng.random(n) < 0.35)
    attribution[artefact, :, 6:8, 0:2] += 1.5
    with h5py.File(folder / "attribution.h5", "w") as handle:
        handle["attribution"] = attribution
        handle["prediction"] = rng.normal(size=(n, 3)).astype(np.float32)
        handle["label"] = labels
        handle["index"] = index
    label_map = [
        {"index": i, "word_net_id": f"n0000000{i}", "name": name}
        for i, name in enumerate(["zero", "one", "two"])
    ]
    (folder / "label-map.json").write_text(json.dumps(label_map))
    return attribution, labels, index, artefact


def analyze(folder, *extra):
    return main(
        [
            "analyze",
            str(folder / "attribution.h5"),
            "--label-map",
            str(folder / "label-map.json"),
            *FAST,
            *extra,
        ]
    )


def test_analyze_writes_the_layout_per_category_and_joins_the_project(tmp_path, capsys):
    attribution, labels, index, artefact = write_inputs(tmp_path)
    project = tmp_path / "project.yaml"
    project.write_text(
        yaml.safe_dump(
            {
                "project": {
                    "name": "toy",
                    "model": "none",
                    "label_map": "label-map.json",
                    "dataset": {"name": "toy", "type": "hdf5", "path": "input.h5"},
                }
            }
        )
    )
    out = tmp_path / "analysis.h5"
    code = analyze(
        tmp_path,
        "--out",
        str(out),
        "--cache",
        str(tmp_path / "cache.h5"),
        "--project",
        str(project),
        "--verbose",
    )
    assert code == 0
    err = capsys.readouterr().err
    assert "[2/3] n00000001 (one): 60 points" in err and "n00000001 (one) spectral:" in err

    with h5py.File(out, "r") as handle:  # nothing but categories at the top level
        assert sorted(handle) == ["n00000000", "n00000001", "n00000002"]
    analysis = read_analysis(out)
    names = {
        (tuple(sorted(c.embeddings)), tuple(sorted(c.clusterings)))
        for c in analysis.categories.values()
    }
    assert len(names) == 1  # the same embedding and clustering names everywhere
    embeddings, clusterings = names.pop()
    assert {"spectral", "tsne", "pca"} <= set(embeddings)
    assert set(clusterings) == {
        "kmeans-02",
        "kmeans-03",
        "kmeans-04",
        "agglomerative-02",
        "agglomerative-03",
        "agglomerative-04",
        "dbscan-eps=0.2",
    }
    for label in range(3):
        category = analysis.categories[f"n0000000{label}"]
        np.testing.assert_array_equal(category.index, np.sort(index[labels == label]))
        assert category.embeddings["spectral"].shape == (60, 6)
        assert category.eigenvalues["spectral"][0] == pytest.approx(1.0)
        assert category.embeddings["tsne"].shape == (60, 2)

    one = analysis.categories["n00000001"]  # the artefact is found end to end
    rows = {int(i): r for r, i in enumerate(index)}
    truth = artefact[[rows[int(i)] for i in one.index]]
    assert max(adjusted_rand_score(truth, ids) for ids in one.clusterings.values()) >= 0.9

    (spec,) = read_project(project).analyses
    assert spec.analysis_method == "spray" and [p.resolve() for p in spec.sources] == [
        out.resolve()
    ]


def test_a_rerun_with_the_cache_reads_every_step(tmp_path, capsys):
    write_inputs(tmp_path)
    cache = str(tmp_path / "cache.h5")
    assert analyze(tmp_path, "--out", str(tmp_path / "a.h5"), "--cache", cache) == 0
    capsys.readouterr()
    assert analyze(tmp_path, "--out", str(tmp_path / "b.h5"), "--cache", cache, "--verbose") == 0
    steps = [
        line
        for line in capsys.readouterr().err.splitlines()
        if re.search(r": (cached|[\d.]+ s)$", line)
    ]
    assert len(steps) >= 3 * 8 and all(line.endswith(": cached") for line in steps)
    first, second = read_analysis(tmp_path / "a.h5"), read_analysis(tmp_path / "b.h5")
    for name, category in first.categories.items():
        np.testing.assert_array_equal(
            category.embeddings["tsne"], second.categories[name].embeddings["tsne"]
        )


def test_categories_are_chosen_by_name_word_net_id_or_index(tmp_path):
    write_inputs(tmp_path)
    out = tmp_path / "analysis.h5"
    assert analyze(tmp_path, "--out", str(out), "--categories", "two", "n00000000", "--quiet") == 0
    assert sorted(read_analysis(out).categories) == ["n00000000", "n00000002"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--categories", "seven"], "--categories: 'seven' is no word_net_id, name or index"),
        (["--task", "nope=pca"], "--task: pipeline 'spray' has no task 'nope'"),
        (["--task", "reduce=no_such"], "unknown processor 'no_such'"),
        (["--clusters", "2-9"], "--clusters: expected A..B or a comma list of ints"),
        (["--pipeline", "kmeans_pipeline"], "unknown processor 'kmeans_pipeline'"),
    ],
)
def test_bad_arguments_are_one_line_errors(tmp_path, capsys, args, message):
    write_inputs(tmp_path)
    assert analyze(tmp_path, "--out", str(tmp_path / "a.h5"), *args) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("relscope: error: ") and message in err and "\n" not in err
    assert not (tmp_path / "a.h5").exists()


def test_missing_files_and_keys_are_one_line_errors(tmp_path, capsys):
    write_inputs(tmp_path)
    code = main(
        [
            "analyze",
            str(tmp_path / "none.h5"),
            "--label-map",
            str(tmp_path / "label-map.json"),
            "--out",
            str(tmp_path / "a.h5"),
        ]
    )
    assert code == 2
    assert "none.h5: attribution HDF5 file not found" in capsys.readouterr().err
    with h5py.File(tmp_path / "attribution.h5", "r+") as handle:
        del handle["label"]
    assert analyze(tmp_path, "--out", str(tmp_path / "a.h5")) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"relscope: error: {tmp_path / 'attribution.h5'}: missing key 'label'"
    assert not (tmp_path / "a.h5").exists()


IN_HOUSE = textwrap.dedent(
    '''
    """An in-house preprocessing step: two tight groups by the sign of the first value."""
    import numpy as np

    from relscope.core import hookimpl
    from relscope.core.analysis import Param, Processor, processor


    @processor
    class FirstValueSign(Processor):
        """Map each sample to one of two far-apart points by the sign of its first value."""

        spread: float = Param(float, 10.0)

        def function(self, data):
            first = np.asarray(data).reshape(len(data), -1)[:, 0] > 0
            points = np.stack([first, ~first], axis=1).astype(np.float32) * self.spread
            noise = np.random.default_rng(0).normal(scale=0.1, size=points.shape)
            return points + noise.astype(np.float32)


    @hookimpl
    def register_processors(register):
        register("first_value_sign", FirstValueSign)
    '''
)


def test_an_in_house_processor_plugin_is_listed_and_usable_in_a_pipeline(tmp_path):
    attribution, labels, index, _ = write_inputs(tmp_path)
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "in_house.py").write_text(IN_HOUSE)
    env = {**ONE_THREAD, "RELSCOPE_PLUGINS_DIR": str(plugins)}

    out = tmp_path / "analysis.h5"
    analyze_args = [
        "analyze",
        str(tmp_path / "attribution.h5"),
        "--label-map",
        str(tmp_path / "label-map.json"),
        *FAST,
        "--task",
        "preprocess=first_value_sign",
        "--out",
        str(out),
        "--quiet",
    ]
    script = (  # one fresh process runs both commands (the plugin stack loads once)
        "import sys; from relscope.core.cli.main import main; "
        f"sys.exit(main(['list', 'processors', '--json']) or main({analyze_args!r}))"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, **env},
    )
    assert done.returncode == 0, done.stderr
    entries = {e["name"]: e for e in json.loads(done.stdout)}
    assert entries["first_value_sign"]["plugin"] == "file:in_house"
    assert entries["first_value_sign"]["description"].startswith("Map each sample")
    rows = {int(i): r for r, i in enumerate(index)}
    for category in read_analysis(out).categories.values():
        sign = attribution[[rows[int(i)] for i in category.index], 0, 0, 0] > 0
        assert adjusted_rand_score(sign, category.clusterings["kmeans-02"]) == 1.0
