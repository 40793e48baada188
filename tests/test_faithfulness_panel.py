"""The faithfulness panel: its API on a real evaluation file named by a project YAML (TestClient),
and the panel in a real browser drawing the project's curves and the selection's mean curve."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from starlette.testclient import TestClient
from torch import nn

from relscope.core.evaluation.evaluation_file import link_evaluation, read_evaluation
from relscope.core.evaluation.methods import baseline_method
from relscope.core.evaluation.metric import PerturbationSettings
from relscope.core.runs.evaluation_run import DatasetEvaluation
from relscope.core.runs.specs import DataSpec, ModelSpec
from relscope.plugins.viewers.explorer.app import build_app
from relscope.plugins.viewers.explorer.served_project import load_projects
from tests.browser_support import (
    CHROMIUM,
    CHROMIUM_ARGS,
    VIEWPORT,
    Server,
    canvas_box,
    drag,
    selected_count,
    server_env,
    wait_ready,
)
from tests.explorer_projects import write_alpha, write_beta

BASE = "http://127.0.0.1"


def shapes_net() -> nn.Module:
    """A small seeded CNN for the 3-class RGB shapes of the explorer test projects."""
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(3, 6, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(4), nn.Flatten(),
        nn.Linear(96, 3),
    )  # fmt: skip


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("faithfulness")
    alpha, beta = write_alpha(root / "alpha", count=48), write_beta(root / "beta")
    out = root / "alpha" / "evaluation.json"
    evaluation = DatasetEvaluation(
        model=ModelSpec("tests.test_faithfulness_panel:shapes_net"),
        data=DataSpec(str(alpha.yaml_path)),
        methods=(baseline_method("gradient"), baseline_method("random")),
        out=out,
        metrics=("pixel_flipping", "aopc"),
        settings=PerturbationSettings(step=None, region=2),
    )
    evaluation.prepare().run(progress=False)
    link_evaluation(alpha.yaml_path, out)
    return {"alpha": alpha, "beta": beta, "document": read_evaluation(out)}


@pytest.fixture(scope="module")
def client(written: dict[str, Any]) -> Iterator[TestClient]:
    projects = load_projects([written[k].yaml_path for k in ("alpha", "beta")])
    with TestClient(build_app(projects), base_url=BASE) as test_client:
        yield test_client


def _ids(client: TestClient) -> dict[str, str]:
    return {p["name"]: p["id"] for p in client.get("/api/projects").json()}


def test_summary_holds_the_files_curves_and_bands(client: TestClient, written: dict) -> None:
    project = _ids(client)["Alpha shapes"]
    summary = client.get(f"/panels/faithfulness/projects/{project}").json()
    assert summary["available"] and summary["samples"] == 48
    assert set(summary["methods"]) == {"gradient", "random"}
    for name in ("gradient", "random"):
        stored = written["document"]["methods"][name]["metrics"]["pixel_flipping"]
        for order in ("morf", "lerf"):
            curve = summary["methods"][name]["curves"][order]
            per_sample = np.asarray(stored[order]["per_sample"])
            assert len(curve["mean"]) == 33  # 64 regions of 2x2, 2 per step: 32 steps
            np.testing.assert_allclose(curve["mean"], per_sample.mean(0), rtol=1e-6, atol=1e-7)
            assert np.all(np.asarray(curve["ci_low"]) <= np.asarray(curve["ci_high"]))
        assert "aopc" in summary["methods"][name]["scores"]


def test_selection_mean_is_the_mean_of_the_selected_rows(client: TestClient, written) -> None:
    project = _ids(client)["Alpha shapes"]
    url = f"/panels/faithfulness/projects/{project}/selection"
    result = client.post(url, json={"indices": [3, 10, 11, 999]}).json()
    assert result["count"] == 3  # 999 was not evaluated
    document = written["document"]
    rows = [document["indices"].index(i) for i in (3, 10, 11)]
    for order in ("morf", "lerf"):
        stored = np.asarray(
            document["methods"]["gradient"]["metrics"]["pixel_flipping"][order]["per_sample"]
        )
        np.testing.assert_allclose(
            result["methods"]["gradient"][order], stored[rows].mean(0), rtol=1e-9
        )


def test_bad_requests_are_4xx_with_an_error(client: TestClient) -> None:
    ids = _ids(client)
    url = f"/panels/faithfulness/projects/{ids['Alpha shapes']}/selection"
    for body in ({"indices": "3"}, {"indices": [1.5]}, [1, 2]):
        response = client.post(url, json=body)
        assert response.status_code == 400 and "indices" in response.json()["error"]
    response = client.get("/panels/faithfulness/projects/nope")
    assert response.status_code == 404 and "nope" in response.json()["error"]
    beta = ids[next(n for n in ids if n != "Alpha shapes")]
    assert client.get(f"/panels/faithfulness/projects/{beta}").json() == {"available": False}
    response = client.post(f"/panels/faithfulness/projects/{beta}/selection", json={"indices": []})
    assert response.status_code == 404


@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs /usr/bin/chromium")
def test_panel_draws_the_curves_and_follows_the_selection(written: dict, tmp_path: Path) -> None:
    playwright_api = pytest.importorskip("playwright.sync_api")
    expect = playwright_api.expect
    server = Server([str(written["alpha"].yaml_path), "--port", "0"], server_env(), tmp_path)
    try:
        with playwright_api.sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport=VIEWPORT)
            errors: list[str] = []
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.goto(server.url)
            wait_ready(page)
            panel = page.locator('[data-panel="faithfulness"] .faithfulness')
            expect(panel).to_have_attribute("data-available", "1", timeout=15_000)
            for order in ("morf", "lerf"):
                curves = panel.locator(f'svg[data-order="{order}"] path.curve')
                expect(curves).to_have_count(2)
            expect(panel.locator(".legend li")).to_have_count(2)
            expect(panel.locator('.legend li[data-method="gradient"]')).to_contain_text("AOPC")
            box = canvas_box(page)  # a rectangle over the whole canvas selects every point
            start = (box["x"] + 2, box["y"] + box["height"] - 2)
            drag(page, [start, (box["x"] + box["width"] - 2, box["y"] + 2)])
            count = selected_count(page)
            assert count > 0
            expect(panel).to_have_attribute("data-selected", str(count), timeout=15_000)
            dashed = panel.locator('svg[data-order="morf"] path.curve.selection')
            expect(dashed).to_have_count(1)
            assert len(dashed.get_attribute("d").split("L")) == 33
            page.screenshot(path=str(tmp_path / "faithfulness.png"))
            browser.close()
            assert not errors, errors
    finally:
        server.stop()
