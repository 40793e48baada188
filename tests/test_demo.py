"""``relscope demo`` end to end: the files it writes, the Clever Hans it finds, and the explorer on it."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest
from sklearn.metrics import adjusted_rand_score

from relscope.core.analysis.ranking import rank_categories
from relscope.core.data.analysis import read_analysis
from relscope.core.data.attributions import AttributionSet
from relscope.core.data.project import read_project
from relscope.plugins.demo.watermark import watermark_region
from tests.browser_support import CHROMIUM, CHROMIUM_ARGS, VIEWPORT, Server, wait_ready

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
            "digit": file["digit"][:],
            "split": file["split"][:],
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


@pytest.mark.parametrize("stem", STEMS)
def test_the_watermark_class_ranks_first(demo_dir: Path, facts: dict[str, Any], stem: str) -> None:
    analysis = read_analysis(demo_dir / f"analysis-{stem}.h5")
    ranks = rank_categories(analysis.categories)
    assert ranks[0].category == f"{facts['class']:08d}", [(r.category, r.score) for r in ranks]
    best = analysis.categories[ranks[0].category]
    truth = facts["watermark"][best.index]
    assert adjusted_rand_score(truth, best.clusterings[ranks[0].clustering]) >= 0.8


def test_the_shortcut_is_strong_and_the_page_says_so(demo_dir: Path, facts: dict[str, Any]) -> None:
    from relscope.plugins.demo.dataset import build_demo_data, intervention_rows

    summary = json.loads((demo_dir / "demo.json").read_text())
    rows = intervention_rows(build_demo_data(seed=0))
    # the held-out digits other than 7 that carry no watermark, by the stored split and flags
    expected = np.flatnonzero(
        (facts["split"] == 1) & (facts["digit"] != facts["class"]) & ~facts["watermark"]
    )
    np.testing.assert_array_equal(rows, expected)
    assert summary["intervention_samples"] == len(expected)
    assert summary["intervention_called_watermark_class"] >= 0.5
    assert summary["accuracy_held_out_clean"] >= 0.9
    percent = f"{summary['intervention_called_watermark_class']:.0%}"
    for stem in STEMS:
        note = read_project(demo_dir / f"project-{stem}.yaml").description
        assert note is not None and percent in note and str(len(expected)) in note


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


@pytest.mark.parametrize("stem", STEMS)
def test_both_composites_are_evaluated_and_linked(demo_dir: Path, stem: str) -> None:
    from relscope.core.evaluation.evaluation_file import project_evaluation, read_evaluation

    path = project_evaluation(demo_dir / f"project-{stem}.yaml")
    assert path == (demo_dir / f"evaluation-{stem}.json").resolve()
    read_project(demo_dir / f"project-{stem}.yaml")  # still a valid project with the extra key
    document = read_evaluation(path)
    composite = {"lrp": "epsilon_plus_flat", "gamma": "epsilon_gamma_box"}[stem]
    assert set(document["methods"]) == {composite, "random"}


def test_epsilon_plus_flat_beats_random_with_an_interval_excluding_equality(demo_dir: Path) -> None:
    from relscope.core.evaluation.evaluation_file import read_evaluation

    document = read_evaluation(demo_dir / "evaluation-lrp.json")
    methods = document["methods"]
    ours = np.asarray(methods["epsilon_plus_flat"]["metrics"]["aopc"]["aopc"]["per_sample"])
    random = np.asarray(methods["random"]["metrics"]["aopc"]["aopc"]["per_sample"])
    assert ours.mean() > random.mean()
    pair = document["comparisons"]["epsilon_plus_flat - random"]["aopc"]
    assert pair["ci_low"] > 0 and pair["excludes_zero"]
    assert pair["difference"] == pytest.approx(ours.mean() - random.mean(), abs=1e-5)


def test_cascading_randomisation_decorrelates_the_gradient(demo_dir: Path) -> None:
    import torch

    from relscope.core.attribution import attribute
    from relscope.core.evaluation import cascading_randomisation
    from relscope.plugins.demo.model import small_cnn

    model = small_cnn()
    model.load_state_dict(torch.load(demo_dir / "model.pt"))
    model.eval()
    with h5py.File(demo_dir / "input.h5", "r") as file:
        images = torch.from_numpy(file["data"][:64].astype(np.float32) / 255.0)
        labels = torch.from_numpy(file["label"][:64]).long()

    def gradient(net: torch.nn.Module, x: torch.Tensor, classes: torch.Tensor) -> torch.Tensor:
        return attribute(net, x, target=classes)

    result = cascading_randomisation(model, images, labels, gradient, seed=0)
    assert result["layers"] == ["12", "10", "6", "3", "0"]  # top (last linear) first
    correlation = result["rank_correlation"].mean(0)
    assert correlation.shape == (5,) and correlation[-1] < 0.5
    # the unrandomised model reproduces its own attribution exactly
    same = cascading_randomisation(model, images, labels, lambda n, x, c: gradient(model, x, c))
    assert np.allclose(same["rank_correlation"], 1.0)


def test_a_second_run_reuses_every_result(demo_dir: Path) -> None:
    before = {p.name: p.stat().st_mtime_ns for p in demo_dir.glob("attribution-*.h5")}
    evaluated = {p.name: p.stat().st_mtime_ns for p in demo_dir.glob("evaluation-*.json")}
    assert len(evaluated) == 2
    model_before = (demo_dir / "model.pt").stat().st_mtime_ns
    result = _demo(demo_dir)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "reusing model.pt" in result.stderr
    assert (demo_dir / "model.pt").stat().st_mtime_ns == model_before
    assert {p.name: p.stat().st_mtime_ns for p in demo_dir.glob("attribution-*.h5")} == before
    assert {p.name: p.stat().st_mtime_ns for p in demo_dir.glob("evaluation-*.json")} == evaluated


@pytest.fixture
def demo_server(demo_dir: Path, tmp_path: Path) -> Iterator[Server]:
    projects = [str(demo_dir / f"project-{stem}.yaml") for stem in STEMS]
    server = Server([*projects, "--port", "0"], dict(__import__("os").environ), tmp_path)
    yield server
    server.stop()


@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs /usr/bin/chromium")
def test_the_first_screen_shows_a_watermarked_cluster(
    demo_server: Server, demo_dir: Path, facts: dict[str, Any], tmp_path: Path
) -> None:
    """Open the page as a new user does, click the largest cluster of the clustering it shows,
    and count the watermarked samples among the selected indices."""
    playwright_api = pytest.importorskip("playwright.sync_api")
    summary = json.loads((demo_dir / "demo.json").read_text())
    with playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_context(viewport=VIEWPORT).new_page()
            page.goto(demo_server.url)
            wait_ready(page)
            assert page.input_value('select[data-setup="category"]') == f"{facts['class']:08d}"
            assert page.input_value('select[data-setup="embedding"]') == "tsne"
            playwright_api.expect(page.locator(".project-note")).to_contain_text(
                f"{summary['intervention_called_watermark_class']:.0%}"
            )
            counts = page.eval_on_selector_all(
                ".cluster",
                "els => els.map(e => [+e.dataset.cluster, +e.querySelector('.cluster-count')"
                ".textContent])",
            )
            cluster, size = max(counts, key=lambda item: item[1])
            page.locator(f'.cluster[data-cluster="{cluster}"]').click()
            playwright_api.expect(page.locator("#selection-count")).to_have_attribute(
                "data-count", str(size)
            )
            selected = page.evaluate("() => Array.from(window.relscope.store.state.selection)")
            page.screenshot(path=str(tmp_path / "demo-first-screen.png"))
        finally:
            browser.close()
    assert len(selected) == size
    assert facts["watermark"][np.asarray(selected)].mean() >= 0.9


@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs /usr/bin/chromium")
def test_the_concept_panel_shows_the_demos_concepts(
    demo_server: Server, demo_dir: Path, tmp_path: Path
) -> None:
    """The ε+♭ project names concepts.h5: the panel lists both convolutions and, for the
    largest cluster, shows the file's mean concept relevances; a click sorts the strip by one."""
    playwright_api = pytest.importorskip("playwright.sync_api")
    expect = playwright_api.expect
    with h5py.File(demo_dir / "concepts.h5", "r") as file:
        rows = {int(i): r for r, i in enumerate(file["index"][()])}
        relevance = file["layers/6/relevance"][()]
    with playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_context(viewport=VIEWPORT).new_page()
            page.goto(demo_server.url)
            wait_ready(page)
            panel = page.locator('[data-panel="concepts"] .concepts')
            expect(panel).to_have_attribute("data-available", "1", timeout=15_000)
            options = page.locator('select[name="concept-layer"] option')
            assert options.evaluate_all("els => els.map(e => e.value)") == ["3", "6"]
            page.select_option('select[name="concept-layer"]', "6")
            counts = page.eval_on_selector_all(
                ".cluster",
                "els => els.map(e => [+e.dataset.cluster, +e.querySelector('.cluster-count')"
                ".textContent])",
            )
            cluster, size = max(counts, key=lambda item: item[1])
            page.locator(f'.cluster[data-cluster="{cluster}"]').click()
            expect(panel).to_have_attribute("data-count", str(size), timeout=15_000)
            selected = page.evaluate("() => Array.from(window.relscope.store.state.selection)")
            mean = relevance[[rows[i] for i in selected]].astype(np.float64).mean(0)
            bars = panel.locator(".concept-bar")
            expect(bars).to_have_count(10)
            shown = bars.evaluate_all("els => els.map(e => [+e.dataset.channel, +e.dataset.value])")
            top = sorted(range(relevance.shape[1]), key=lambda c: (-abs(mean[c]), c))[:10]
            assert [c for c, _ in shown] == top
            for channel, value in shown:
                assert value == pytest.approx(mean[channel], rel=1e-6, abs=1e-9)
            bars.nth(0).click()
            expect(page.locator(".strip")).to_have_attribute("data-order", "scores")
            strip = page.locator(".strip figure.sample").evaluate_all(
                "els => els.map(e => +e.dataset.index)"
            )
            column = relevance[:, top[0]]
            assert strip == sorted(selected, key=lambda i: (-column[rows[i]], i))[: len(strip)]
            expect(panel.locator(".concept-reference")).to_have_count(8)
            page.screenshot(path=str(tmp_path / "demo-concepts.png"))
        finally:
            browser.close()
