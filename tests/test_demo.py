"""``relscope demo`` end to end: the files it writes, the Clever Hans it finds, and the explorer on it."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest
from sklearn.metrics import adjusted_rand_score

from relscope.core.data.analysis import read_analysis
from relscope.core.data.attributions import AttributionSet
from relscope.core.data.project import read_project
from relscope.plugins.demo.watermark import watermark_region
from tests.browser_support import CHROMIUM, CHROMIUM_ARGS, VIEWPORT, Server, choose, wait_ready

STEMS = ("lrp", "gamma")


def _demo(out: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "relscope.core.cli",
            "demo",
            "--no-serve",
            "--quiet",
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=900,
    )


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("demo")
    result = _demo(out)
    assert result.returncode == 0, result.stderr[-3000:]
    return out


@pytest.fixture(scope="module")
def facts(demo_dir: Path) -> dict[str, Any]:
    with h5py.File(demo_dir / "input.h5", "r") as file:
        return {
            "watermark": file["watermark"][:],
            "label": file["label"][:],
            "class": int(file.attrs["watermark_class"]),
        }


def test_every_file_opens_with_the_readers(demo_dir: Path, facts: dict[str, Any]) -> None:
    for stem in STEMS:
        project = read_project(demo_dir / f"project-{stem}.yaml")
        assert project.attributions is not None
        assert len(project.analyses) == (2 if stem == "lrp" else 1)  # lrp: also SpRAy on concepts
        assert project.concepts == ([demo_dir / "concepts.h5"] if stem == "lrp" else [])
        inputs = project.open_inputs()
        assert len(inputs) == len(facts["label"]) == 1797
        assert inputs.image(0).shape == (32, 32, 1)
        attributions = project.open_attributions()
        assert isinstance(attributions, AttributionSet)
        assert attributions.attribution(5).shape == (1, 32, 32)
        assert attributions.labels(5) == [int(facts["label"][5])]
        analysis = read_analysis(project.analyses[0].sources)
        assert sorted(analysis.categories) == [f"{i:08d}" for i in range(10)]
        names = {tuple(sorted(c.clusterings)) for c in analysis.categories.values()}
        assert len(names) == 1, "every category offers the same clusterings"
        spectral = analysis.categories[f"{facts['class']:08d}"].eigenvalues["spectral"]
        assert spectral is not None and spectral.ndim == 1 and len(spectral) >= 8


def _watermark_class_analysis(demo_dir: Path, stem: str, facts: dict[str, Any]) -> Any:
    analysis = read_analysis(demo_dir / f"analysis-{stem}.h5")
    return analysis.categories[f"{facts['class']:08d}"]


@pytest.mark.parametrize("stem", STEMS)
def test_a_clustering_separates_watermarked_from_clean(
    demo_dir: Path, facts: dict[str, Any], stem: str
) -> None:
    category = _watermark_class_analysis(demo_dir, stem, facts)
    truth = facts["watermark"][category.index]
    assert 0.5 < truth.mean() < 0.95, "the class mixes watermarked and clean samples"
    best = max(adjusted_rand_score(truth, labels) for labels in category.clusterings.values())
    assert best >= 0.8


def test_a_watermark_concept_exists(demo_dir: Path, facts: dict[str, Any]) -> None:
    """Some channel of the demo's convolutions has reference samples >= 90 % watermarked."""
    from relscope.core.concepts.concepts_file import ConceptsFile

    with ConceptsFile(demo_dir / "concepts.h5") as concepts:
        assert concepts.layers == ["3", "6"]
        shares = {}
        for layer in concepts.layers:
            refs = concepts.references(layer, "relmax")
            assert (refs.index >= 0).all()
            marked = facts["watermark"][refs.index].mean(axis=1)
            shares[layer] = float(marked.max())
        best_layer = max(shares, key=shares.get)
        refs = concepts.references(best_layer, "relmax")
        channel = int(facts["watermark"][refs.index].mean(axis=1).argmax())
        boxes = refs.box[channel]
    assert shares[best_layer] >= 0.9, shares
    assert (boxes[:, 0] < 8).all() and (boxes[:, 2] < 8).all()  # the top-left corner


def test_spray_on_concept_relevance_separates_the_watermarked(
    demo_dir: Path, facts: dict[str, Any]
) -> None:
    category = _watermark_class_analysis(demo_dir, "concepts", facts)
    truth = facts["watermark"][category.index]
    best = max(adjusted_rand_score(truth, labels) for labels in category.clusterings.values())
    assert best >= 0.8


def test_relevance_concentrates_on_the_watermark(demo_dir: Path, facts: dict[str, Any]) -> None:
    with h5py.File(demo_dir / "attribution-lrp.h5", "r") as file:
        relevance = file["attribution"][:].sum(axis=1)
    members = np.flatnonzero(facts["label"] == facts["class"])
    inside = relevance[members][:, watermark_region()].mean(axis=1)
    marked = facts["watermark"][members]
    assert inside[marked].mean() > 5 * max(inside[~marked].mean(), 1e-12)


def test_a_second_run_reuses_every_result(demo_dir: Path) -> None:
    before = {p.name: p.stat().st_mtime_ns for p in demo_dir.glob("attribution-*.h5")}
    model_before = (demo_dir / "model.pt").stat().st_mtime_ns
    result = _demo(demo_dir)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "reusing model.pt" in result.stderr
    assert (demo_dir / "model.pt").stat().st_mtime_ns == model_before
    assert {p.name: p.stat().st_mtime_ns for p in demo_dir.glob("attribution-*.h5")} == before


@pytest.fixture
def demo_server(demo_dir: Path, tmp_path: Path) -> Iterator[Server]:
    projects = [str(demo_dir / f"project-{stem}.yaml") for stem in STEMS]
    server = Server([*projects, "--port", "0"], dict(__import__("os").environ), tmp_path)
    yield server
    server.stop()


@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs /usr/bin/chromium")
def test_explorer_shows_the_separating_cluster(
    demo_server: Server, demo_dir: Path, facts: dict[str, Any], tmp_path: Path
) -> None:
    playwright_api = pytest.importorskip("playwright.sync_api")
    category = _watermark_class_analysis(demo_dir, "lrp", facts)
    truth = facts["watermark"][category.index]
    name, labels = max(
        category.clusterings.items(), key=lambda item: adjusted_rand_score(truth, item[1])
    )
    # the cluster holding most watermarked samples, and how many points it has
    values, counts = np.unique(labels[truth], return_counts=True)
    cluster = int(values[counts.argmax()])
    size = int((labels == cluster).sum())

    with playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_context(viewport=VIEWPORT).new_page()
            page.goto(demo_server.url)
            wait_ready(page)
            for setting, value in (("category", f"{facts['class']:08d}"), ("clustering", name)):
                if page.input_value(f'select[data-setup="{setting}"]') != value:
                    choose(page, setting, value)
            item = page.locator(f'.cluster[data-cluster="{cluster}"]')
            playwright_api.expect(item.locator(".cluster-count")).to_have_text(str(size))
            item.click()
            playwright_api.expect(page.locator("#selection-count")).to_have_attribute(
                "data-count", str(size)
            )
            page.screenshot(path=str(tmp_path / "demo-cluster.png"))
        finally:
            browser.close()
