"""The explorer on a token project (files written with h5py straight from docs/formats.md): the
tokens route gives texts, relevance and the colours of the heatmap rule; a cluster's prototype is
its tokens by mean relevance; in a real browser a click on a cluster shows its texts, coloured
with the relevance signs, in the three modes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import h5py
import numpy as np
import pytest
import yaml
from starlette.testclient import TestClient

from relscope.core.colormap import get_colormap
from relscope.plugins.viewers.explorer.app import build_app
from relscope.plugins.viewers.explorer.served_project import load_projects
from tests.browser_support import CHROMIUM, CHROMIUM_ARGS, VIEWPORT, Server, server_env, wait_ready

VOCAB = ["[PAD]", "good", "film", "plot", "bad", "<br>", "fine"]
N, T = 24, 7


def write_token_project(folder) -> dict[str, Any]:
    """24 positive reviews; the even ones end in "<br>", which carries relevance 2.0; cluster 0 of
    ``kmeans-02`` is exactly those."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    ids = np.zeros((N, T), dtype=np.int64)
    relevance = np.zeros((N, T), dtype=np.float32)
    for row in range(N):
        length = int(rng.integers(3, 6))
        ids[row, :length] = rng.choice([1, 2, 3, 4, 6], length)
        relevance[row, :length] = rng.choice([-0.5, 0.5], length) * rng.uniform(0.5, 1.0, length)
        if row % 2 == 0:
            ids[row, length] = 5
            relevance[row, length] = 2.0
    mask = (ids != 0).astype(np.uint8)
    with h5py.File(folder / "tokens.h5", "w") as file:
        file["input_ids"] = ids
        file["attention_mask"] = mask
        file["label"] = np.ones(N, dtype=np.int64)
        file["tokens"] = np.asarray(VOCAB, dtype=h5py.string_dtype())
    with h5py.File(folder / "attribution.h5", "w") as file:
        file["attribution"] = relevance
        file["input_ids"] = ids
        file["prediction"] = np.tile([[0.0, 1.0]], (N, 1)).astype(np.float32)
        file["label"] = np.ones(N, dtype=np.int64)
    clusters = (np.arange(N) % 2).astype(np.int32)
    coords = np.where(clusters[:, None] == 0, -1.0, 1.0) + rng.normal(0, 0.1, (N, 2))
    with h5py.File(folder / "analysis.h5", "w") as file:
        group = file.create_group("pos")
        group["index"] = np.arange(N)
        group.create_group("embedding")["tsne"] = coords.astype(np.float32)
        group.create_group("cluster")["kmeans-02"] = clusters
    (folder / "label-map.json").write_text(
        json.dumps([{"index": 0, "word_net_id": "neg", "name": "negative"},
                    {"index": 1, "word_net_id": "pos", "name": "positive"}])
    )  # fmt: skip
    (folder / "project.yaml").write_text(
        yaml.safe_dump(
            {"project": {
                "name": "Reviews", "model": "tiny", "label_map": "label-map.json",
                "dataset": {"name": "reviews", "type": "tokens", "path": "tokens.h5"},
                "attributions": {"attribution_method": "attn_lrp",
                                 "attribution_strategy": "true_label",
                                 "sources": ["attribution.h5"]},
                "analyses": [{"analysis_method": "spray", "sources": ["analysis.h5"]}],
            }}
        )
    )  # fmt: skip
    return {"yaml": folder / "project.yaml", "ids": ids, "mask": mask, "relevance": relevance}


@pytest.fixture(scope="module")
def written(tmp_path_factory) -> dict[str, Any]:
    return write_token_project(tmp_path_factory.mktemp("token-project"))


@pytest.fixture(scope="module")
def client(written) -> Iterator[TestClient]:
    with TestClient(build_app(load_projects([written["yaml"]])), base_url="http://127.0.0.1") as c:
        yield c


def expected_colors(relevance: np.ndarray, colormap: str) -> list[str]:
    """The heatmap rule written out: index floor(255 (R / max|R| + 1) / 2 + 0.5) of the LUT."""
    unit = (relevance / np.abs(relevance).max() + 1) / 2
    lut = get_colormap(colormap).lut
    return ["#" + bytes(lut[int(np.floor(255 * u + 0.5))].tolist()).hex() for u in unit]


def test_the_tokens_route_gives_texts_relevance_and_heatmap_colours(client, written) -> None:
    for index in (0, 3):
        doc = client.get(f"/api/projects/0/samples/{index}/tokens?colormap=bwr").json()
        mask = written["mask"][index].astype(bool)
        assert doc["tokens"] == [VOCAB[i] for i in written["ids"][index][mask]]
        values = written["relevance"][index][mask]
        np.testing.assert_allclose(doc["relevance"], values, rtol=1e-6)
        assert doc["colors"] == expected_colors(values.astype(np.float64), "bwr")
    details = client.get("/api/projects/0").json()
    assert details["data_type"] == "tokens"
    sample = client.get("/api/projects/0/samples/1").json()
    assert sample["size"] == [int(written["mask"][1].sum())]


def test_a_cluster_prototype_is_its_tokens_by_mean_relevance(client, written) -> None:
    params = "category=pos&clustering=kmeans-02&top=3"
    doc = client.get(f"/api/projects/0/analyses/spray/token-prototype?{params}&cluster=0").json()
    members = np.arange(0, N, 2)
    bag = np.zeros((len(members), len(VOCAB)))
    for row, member in enumerate(members):
        np.add.at(bag[row], written["ids"][member], written["relevance"][member])
    mean = bag.mean(0)
    assert doc["members"] == len(members)
    assert [e["token"] for e in doc["tokens"]] == [VOCAB[i] for i in np.argsort(-mean)[:3]]
    assert doc["tokens"][0]["token"] == "<br>"
    assert doc["tokens"][0]["mean_relevance"] == pytest.approx(2.0)
    missing = client.get(f"/api/projects/0/analyses/spray/token-prototype?{params}&cluster=7")
    assert missing.status_code == 404 and "error" in missing.json()


# -- in a real browser -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def page(written, tmp_path_factory) -> Iterator[Any]:
    playwright_api = pytest.importorskip("playwright.sync_api")
    server = Server(
        [str(written["yaml"]), "--port", "0"], server_env(), tmp_path_factory.mktemp("cwd")
    )
    errors: list[str] = []
    try:
        with playwright_api.sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport=VIEWPORT)
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.goto(server.url)
            wait_ready(page)
            yield page
            browser.close()
    finally:
        server.stop()
    assert not errors, errors


def _spans(page) -> list[dict[str, Any]]:
    return page.eval_on_selector_all(
        ".strip .token-sample .token",
        """els => els.map(e => ({text: e.firstChild.textContent, relevance: e.dataset.relevance,
            background: getComputedStyle(e).backgroundColor, title: e.title,
            value: e.querySelector('.token-value')?.textContent ?? null}))""",
    )


def _rgb(css: str) -> tuple[int, ...]:
    return tuple(int(float(v)) for v in css[css.index("(") + 1 : css.index(")")].split(",")[:3])


def test_a_click_on_a_cluster_shows_its_texts_coloured_by_relevance_sign(page, written) -> None:
    from playwright.sync_api import expect

    page.locator('.cluster[data-cluster="0"]').click()
    expect(page.locator("#selection-count")).to_have_text(f"{N // 2} selected")
    expect(page.locator(".strip .token-sample")).to_have_count(N // 2)
    page.wait_for_function(
        "n => document.querySelectorAll('.strip .token-sample .token-text').length === n",
        arg=N // 2,
    )
    shown = page.eval_on_selector_all(
        ".strip .token-sample", "els => els.map(e => +e.dataset.index)"
    )
    assert sorted(shown) == list(range(0, N, 2))
    first = page.locator(f'.strip .token-sample[data-index="{shown[0]}"] .token')
    mask = written["mask"][shown[0]].astype(bool)
    assert first.all_text_contents() == [VOCAB[i] for i in written["ids"][shown[0]][mask]]
    spans = _spans(page)
    assert len(spans) == int(written["mask"][::2].sum())
    lut = get_colormap("coldnhot").lut  # the default colour map
    for span in spans:  # the colour sits in the colour map's upper half iff relevance > 0
        where = np.flatnonzero((lut == _rgb(span["background"])).all(1))
        relevance = float(span["relevance"])
        assert where.size and ((where > 128).all() if relevance > 0 else (where < 128).all()), span
        assert f"relevance {relevance:.3g}"[:12] in span["title"]
    # the prototype of cluster 0 names "<br>" first
    expect(page.locator('.cluster[data-cluster="0"] .prototype-token').first).to_have_text("<br>")


def test_the_three_modes_mean_plain_coloured_and_coloured_with_values(page) -> None:
    from playwright.sync_api import expect

    page.locator('.cluster[data-cluster="0"]').click()
    page.click('.mode-buttons button:has-text("Input")')
    expect(page.locator('.strip .token-text[data-mode="input"]').first).to_be_visible()
    page.wait_for_function(
        "() => [...document.querySelectorAll('.strip .token-text')].every(e => e.dataset.mode === 'input')"
    )
    plain = _spans(page)
    assert all(_rgb(s["background"]) == (0, 0, 0) or "rgba(0, 0, 0, 0)" in s["background"]
               for s in plain)  # fmt: skip
    assert all(s["value"] is None for s in plain)
    page.click('.mode-buttons button:has-text("Overlay")')
    page.wait_for_function(
        "() => [...document.querySelectorAll('.strip .token-text')].every(e => e.dataset.mode === 'overlay')"
    )
    overlay = _spans(page)
    assert all(s["value"] == f"{float(s['relevance']):.2f}" for s in overlay)
    assert any(_rgb(s["background"])[0] > 200 for s in overlay if float(s["relevance"]) > 1)


def test_hovering_a_point_previews_its_text(page, written) -> None:
    from playwright.sync_api import expect

    from tests.browser_support import canvas_box

    page.click('.mode-buttons button:has-text("Attribution")')
    position = page.evaluate("() => relscope.embedding.screenOf(0)")
    box = canvas_box(page)
    page.mouse.move(box["x"] + position[0], box["y"] + position[1])
    card = page.locator(".hover-card")
    expect(card).to_be_visible()
    expect(card).to_have_attribute("data-index", "0")
    mask = written["mask"][0].astype(bool)
    expect(card.locator(".token-text .token")).to_have_count(int(mask.sum()))
    assert card.locator(".token-text .token").all_text_contents() == [
        VOCAB[i] for i in written["ids"][0][mask]
    ]
    assert card.locator("img").count() == 0  # no image route for a token project
    page.mouse.move(box["x"] + 2, box["y"] + 2)
