"""The concept panel: its API on a real concepts.h5 (written by the concepts run on the alpha
shapes project and named by its YAML), checked against the file read with h5py, and the panel in
a real browser: bars, a click on a concept, the embedding's colours and the strip's order."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest
import torch
from PIL import Image
from starlette.testclient import TestClient
from torch import nn

from relscope.core.attribution import Gradient, get_composite
from relscope.core.data.inputs import open_inputs
from relscope.core.data.project import read_project, write_project
from relscope.core.heatmap import heatmap_indices
from relscope.core.runs.batch_loop import Batching
from relscope.core.runs.concepts_run import concepts_dataset
from relscope.plugins.viewers.explorer.app import build_app
from relscope.plugins.viewers.explorer.served_project import load_projects
from tests.browser_support import (
    CHROMIUM,
    CHROMIUM_ARGS,
    VIEWPORT,
    Server,
    canvas_box,
    changed_fraction,
    drag,
    pixels,
    selected_count,
    server_env,
    wait_ready,
    wait_strip_images,
)
from tests.explorer_projects import write_alpha, write_beta

BASE = "http://127.0.0.1"
LAYERS = ["0", "2"]
TOP_K = 4


def shapes_net() -> nn.Module:
    """A small seeded CNN for the 3-class RGB shapes: two convolutions (5 and 7 channels)."""
    torch.manual_seed(3)
    return nn.Sequential(
        nn.Conv2d(3, 5, 3, padding=1), nn.ReLU(), nn.Conv2d(5, 7, 3, padding=1), nn.ReLU(),
        nn.AdaptiveAvgPool2d(2), nn.Flatten(), nn.Linear(28, 3),
    ).eval()  # fmt: skip


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("concept-panel")
    alpha, beta = write_alpha(root / "alpha", count=48), write_beta(root / "beta")
    out = root / "alpha" / "concepts.h5"
    inputs = open_inputs(root / "alpha" / "input.h5")
    attributor = Gradient(shapes_net(), get_composite("epsilon_plus_flat"))
    concepts_dataset(
        attributor, inputs, out, LAYERS, {"test": 1}, top_k=TOP_K, batching=Batching(batch_size=16)
    )
    inputs.close()
    project = read_project(alpha.yaml_path)
    project.concepts.append(out)
    write_project(project, alpha.yaml_path)
    with h5py.File(out, "r") as file:  # what the file holds, read without our reader
        stored = {"index": file["index"][()]}
        for layer in LAYERS:
            group = file[f"layers/{layer}"]
            stored[layer] = {
                "relevance": group["relevance"][()],
                "activation": group["activation"][()],
                **{
                    kind: {
                        key: group[kind][key][()] for key in ("index", "value", "heatmap", "box")
                    }
                    for kind in ("relmax", "actmax")
                },
            }
    return {"alpha": alpha, "beta": beta, "stored": stored}


@pytest.fixture(scope="module")
def client(written: dict[str, Any]) -> Iterator[TestClient]:
    projects = load_projects([written[k].yaml_path for k in ("alpha", "beta")])
    with TestClient(build_app(projects), base_url=BASE) as test_client:
        yield test_client


def _ids(client: TestClient) -> dict[str, str]:
    return {p["name"]: p["id"] for p in client.get("/api/projects").json()}


def _mean(stored: dict, layer: str, indices: list[int], key: str = "relevance") -> np.ndarray:
    rows = [int(np.flatnonzero(stored["index"] == i)[0]) for i in indices]
    return stored[layer][key][rows].astype(np.float64).mean(0)


def test_summary_lists_the_layers_of_the_file(client: TestClient, written: dict) -> None:
    ids = _ids(client)
    summary = client.get(f"/panels/concepts/projects/{ids['Alpha shapes']}").json()
    assert summary["available"]
    assert [(x["name"], x["channels"], x["top_k"]) for x in summary["layers"]] == [
        ("0", 5, TOP_K),
        ("2", 7, TOP_K),
    ]
    assert all(x["samples"] == 48 for x in summary["layers"])
    beta = next(i for n, i in ids.items() if n != "Alpha shapes")
    assert client.get(f"/panels/concepts/projects/{beta}").json() == {
        "available": False,
        "layers": [],
    }


def test_selection_ranks_concepts_by_mean_absolute_relevance(client, written) -> None:
    project = _ids(client)["Alpha shapes"]
    stored = written["stored"]
    selected = [0, 5, 9, 17, 30]
    url = f"/panels/concepts/projects/{project}/layers/2/selection"
    result = client.post(url, json={"indices": [*selected, 4000], "top": 4}).json()
    assert result["count"] == 5 and not result["all"]  # 4000 is not in the file
    mean = _mean(stored, "2", selected)
    expected = sorted(range(7), key=lambda c: (-abs(mean[c]), c))[:4]
    assert [c["channel"] for c in result["concepts"]] == expected
    for concept in result["concepts"]:
        c = concept["channel"]
        assert concept["relevance"] == pytest.approx(mean[c], rel=1e-6, abs=1e-9)
        activation = _mean(stored, "2", selected, "activation")[c]
        assert concept["activation"] == pytest.approx(activation, rel=1e-6, abs=1e-9)
    everything = client.post(url, json={"indices": None}).json()
    assert everything["all"] and everything["count"] == 48 and len(everything["concepts"]) == 7
    whole = stored["2"]["relevance"].astype(np.float64).mean(0)
    got = {c["channel"]: c["relevance"] for c in everything["concepts"]}
    np.testing.assert_allclose([got[c] for c in range(7)], whole, rtol=1e-6, atol=1e-9)


def test_channel_document_holds_references_and_the_relevance_column(client, written) -> None:
    project = _ids(client)["Alpha shapes"]
    stored = written["stored"]["0"]
    for kind in ("relmax", "actmax"):
        doc = client.get(f"/panels/concepts/projects/{project}/layers/0/channels/3?kind={kind}")
        doc = doc.json()
        assert [r["index"] for r in doc["references"]] == stored[kind]["index"][3].tolist()
        assert [r["box"] for r in doc["references"]] == stored[kind]["box"][3].tolist()
        np.testing.assert_allclose(
            [r["value"] for r in doc["references"]], stored[kind]["value"][3], rtol=1e-6
        )
    assert doc["index"] == written["stored"]["index"].tolist()
    np.testing.assert_array_equal(np.float32(doc["relevance"]), stored["relevance"][:, 3])


def _palette_indices(png: bytes) -> np.ndarray:
    image = Image.open(io.BytesIO(png))
    assert image.mode == "P"
    return np.asarray(image)


def test_reference_png_is_the_stored_heatmap_cropped_to_its_box(client, written) -> None:
    project = _ids(client)["Alpha shapes"]
    stored = written["stored"]["2"]["relmax"]
    base = f"/panels/concepts/projects/{project}/layers/2/channels/1/references/relmax"
    for rank in range(TOP_K):
        y0, y1, x0, x1 = stored["box"][1, rank]
        heat = stored["heatmap"][1, rank]
        response = client.get(f"{base}/{rank}.png")
        assert response.status_code == 200 and response.headers["content-type"] == "image/png"
        expected = heatmap_indices(heat[y0:y1, x0:x1])
        np.testing.assert_array_equal(_palette_indices(response.content), expected)
    whole = _palette_indices(client.get(f"{base}/0.png?crop=0").content)
    np.testing.assert_array_equal(whole, heatmap_indices(stored["heatmap"][1, 0]))


def test_a_sample_shows_its_stored_heatmap_or_says_there_is_none(client, written) -> None:
    project = _ids(client)["Alpha shapes"]
    stored = written["stored"]["2"]
    base = f"/panels/concepts/projects/{project}/layers/2/channels/4/samples"
    reference = int(stored["actmax"]["index"][4, 1])
    if reference in stored["relmax"]["index"][4].tolist():  # stored under relmax first
        kind, rank = "relmax", stored["relmax"]["index"][4].tolist().index(reference)
    else:
        kind, rank = "actmax", 1
    doc = client.get(f"{base}/{reference}").json()
    row = int(np.flatnonzero(written["stored"]["index"] == reference)[0])
    assert doc["relevance"] == pytest.approx(float(stored["relevance"][row, 4]), rel=1e-6)
    assert doc["heatmap"]["kind"] == kind and doc["heatmap"]["rank"] == rank
    y0, y1, x0, x1 = stored[kind]["box"][4, rank]
    png = client.get(f"{base}/{reference}/heatmap.png").content
    expected = heatmap_indices(stored[kind]["heatmap"][4, rank][y0:y1, x0:x1])
    np.testing.assert_array_equal(_palette_indices(png), expected)
    others = set(range(48)) - set(stored["relmax"]["index"][4]) - set(stored["actmax"]["index"][4])
    other = min(others)
    doc = client.get(f"{base}/{other}").json()
    assert doc["heatmap"] is None
    response = client.get(f"{base}/{other}/heatmap.png")
    assert response.status_code == 404 and "reference samples" in response.json()["error"]


def test_bad_requests_are_4xx_naming_what_was_wrong(client: TestClient) -> None:
    ids = _ids(client)
    project = f"/panels/concepts/projects/{ids['Alpha shapes']}"
    response = client.get(f"{project}/layers/features.9/channels/0")
    assert response.status_code == 404 and "known: 0, 2" in response.json()["error"]
    response = client.get(f"{project}/layers/0/channels/5")
    assert response.status_code == 400 and "channel 5 is out of range (0..4)" in response.text
    response = client.get(f"{project}/layers/0/channels/1?kind=best")
    assert response.status_code == 400 and "relmax, actmax" in response.json()["error"]
    response = client.get(f"{project}/layers/0/channels/1/references/relmax/{TOP_K}.png")
    assert response.status_code == 400 and "rank" in response.json()["error"]
    response = client.get(f"{project}/layers/0/channels/1/samples/999")
    assert response.status_code == 404 and "999" in response.json()["error"]
    for body in ({"indices": "3"}, {"indices": [1.5]}, [1, 2], {"indices": [1], "top": 0}):
        response = client.post(f"{project}/layers/0/selection", json=body)
        assert response.status_code == 400
    beta = next(i for n, i in ids.items() if n != "Alpha shapes")
    response = client.post(f"/panels/concepts/projects/{beta}/layers/0/selection", json={})
    assert response.status_code == 404 and "names no concepts file" in response.json()["error"]


@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs /usr/bin/chromium")
def test_clicking_a_concept_colours_the_embedding_and_sorts_the_strip(
    written: dict, tmp_path: Path
) -> None:
    playwright_api = pytest.importorskip("playwright.sync_api")
    expect = playwright_api.expect
    stored = written["stored"]
    server = Server([str(written["alpha"].yaml_path), "--port", "0"], server_env(), tmp_path)
    try:
        with playwright_api.sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport=VIEWPORT)
            errors: list[str] = []
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.goto(server.url)
            wait_ready(page)
            panel = page.locator('[data-panel="concepts"] .concepts')
            expect(panel).to_have_attribute("data-available", "1", timeout=15_000)
            page.select_option('select[name="concept-layer"]', "2")
            box = canvas_box(page)  # a rectangle over the whole canvas selects every point
            start = (box["x"] + 2, box["y"] + box["height"] - 2)
            drag(page, [start, (box["x"] + box["width"] - 2, box["y"] + 2)])
            count = selected_count(page)
            assert count > 0
            expect(panel).to_have_attribute("data-count", str(count), timeout=15_000)
            selection = page.evaluate(
                "() => Array.from(window.relscope.embedding.store.state.selection)"
            )
            assert len(selection) == count
            mean = _mean(stored, "2", selection)
            bars = panel.locator(".concept-bar")
            expect(bars).to_have_count(7)
            shown = bars.evaluate_all(
                "els => els.map(e => [+e.dataset.channel, +e.dataset.value, +e.dataset.sign])"
            )
            assert [c for c, _, _ in shown] == sorted(range(7), key=lambda c: (-abs(mean[c]), c))
            for channel, value, sign in shown:
                assert sign == np.sign(mean[channel])  # the bar's sign is the file's
                assert value == pytest.approx(mean[channel], rel=1e-6, abs=1e-9)
            assert {s for _, _, s in shown} == {-1, 1}  # both signs are on screen
            wait_strip_images(page)
            before = pixels(page, ".canvas-stage")
            focus = shown[0][0]
            bars.nth(0).click()
            expect(page.locator(".canvas-stage")).to_have_attribute("data-color-by", "scores")
            expect(page.locator(".strip")).to_have_attribute("data-order", "scores")
            page.wait_for_timeout(300)
            assert changed_fraction(before, pixels(page, ".canvas-stage")) > 0.002
            rows = {int(i): r for r, i in enumerate(stored["index"])}
            relevance = stored["2"]["relevance"][:, focus]
            expected = sorted(selection, key=lambda i: (-relevance[rows[i]], i))[:20]
            strip = page.locator(".strip figure.sample").evaluate_all(
                "els => els.map(e => +e.dataset.index)"
            )
            assert strip == expected
            references = panel.locator(".concept-reference")
            expect(references).to_have_count(TOP_K)
            got = references.evaluate_all("els => els.map(e => +e.dataset.index)")
            assert got == stored["2"]["relmax"]["index"][focus].tolist()
            page.wait_for_function(
                """() => [...document.querySelectorAll('.concept-reference img')]
                    .every((i) => i.complete && i.naturalWidth > 0)"""
            )
            page.click('[data-kind="actmax"]')
            expect(panel.locator(".concept-references")).to_have_attribute("data-kind", "actmax")
            got = references.evaluate_all("els => els.map(e => +e.dataset.index)")
            assert got == stored["2"]["actmax"]["index"][focus].tolist()
            samples = panel.locator(".concept-sample")
            expect(samples).to_have_count(min(6, count))
            first = samples.evaluate_all("els => els.map(e => +e.dataset.index)")
            assert first == expected[:6]
            page.screenshot(path=str(tmp_path / "concepts.png"))
            bars.nth(0).click()  # a second click closes the concept: index order again
            expect(page.locator(".strip")).to_have_attribute("data-order", "index")
            expect(page.locator(".canvas-stage")).not_to_have_attribute("data-color-by", "scores")
            strip = page.locator(".strip figure.sample").evaluate_all(
                "els => els.map(e => +e.dataset.index)"
            )
            assert strip == sorted(selection)[:20]
            browser.close()
            assert not errors, errors
    finally:
        server.stop()
