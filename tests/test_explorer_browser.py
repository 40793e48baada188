"""The explorer in a real browser: Debian's chromium (Playwright) against a real ``relscope serve``.

One server and one browser serve the whole module; each test opens a fresh browser context. Every
step leaves a screenshot in a temporary folder; a failing test prints the path of its last one.
Pixels are compared (canvas, sample images) to see that a change really changed the picture.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.browser_support import (
    CHROMIUM,
    CHROMIUM_ARGS,
    VIEWPORT,
    Screens,
    Server,
    canvas_box,
    changed_fraction,
    choose,
    drag,
    drawn_key,
    pixels,
    selected_count,
    server_env,
    wait_ready,
    wait_redraw,
    wait_strip_images,
)
from tests.conftest import FIXTURES
from tests.explorer_projects import ALPHA_SEPARABILITY, BETA_NOTE, CLASSES, write_alpha, write_beta

playwright_api = pytest.importorskip("playwright.sync_api")
expect = playwright_api.expect
expect.set_options(timeout=15_000)

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs /usr/bin/chromium")


# -- server and browser --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def panel_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """tests/fixtures/relscope-fixture-panel installed with pip into a throw-away folder."""
    source = tmp_path_factory.mktemp("panel-source") / "relscope-fixture-panel"
    shutil.copytree(
        FIXTURES / "relscope-fixture-panel",
        source,
        ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"),
    )
    target = tmp_path_factory.mktemp("panel-site")
    subprocess.run(
        [
            sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
            "--no-build-isolation", "--target", str(target), str(source),
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return target


@pytest.fixture(scope="module")
def projects(tmp_path_factory: pytest.TempPathFactory) -> dict:
    root = tmp_path_factory.mktemp("explorer-browser")
    return {"alpha": write_alpha(root / "alpha", count=96), "beta": write_beta(root / "beta")}


@pytest.fixture(scope="module")
def server(projects: dict, panel_site: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator:
    paths = [str(projects["alpha"].yaml_path), str(projects["beta"].yaml_path)]
    running = Server(
        [*paths, "--port", "0"], server_env(panel_site), tmp_path_factory.mktemp("serve-cwd")
    )
    yield running
    running.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with playwright_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def screen_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("explorer-screens")


@pytest.fixture
def pages(browser: Any, server: Server, screen_root: Path, request: pytest.FixtureRequest):
    """Open fresh explorer pages (new browser contexts); screenshots go to one folder per test."""
    screens = Screens(screen_root / request.node.name[:80].replace("/", "_"))
    contexts: list[Any] = []
    errors: list[str] = []
    failed_before = request.session.testsfailed

    def open_page(url: str | None = None, color_scheme: str = "light") -> Any:
        context = browser.new_context(
            viewport=VIEWPORT, accept_downloads=True, color_scheme=color_scheme
        )
        contexts.append(context)
        page = context.new_page()
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(url or server.url)
        wait_ready(page)
        return page

    open_page.screens = screens  # type: ignore[attr-defined]
    open_page.errors = errors  # type: ignore[attr-defined]
    yield open_page
    if request.session.testsfailed > failed_before and contexts:
        try:
            final = screens.take(contexts[-1].pages[-1], "final")
        except Exception as exc:  # the page may be gone
            final = Path(f"(no final screenshot: {exc})")
        reporter = request.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_line(f"\n{request.node.nodeid}: final screenshot {final}")
        print(f"final screenshot: {final}")
    for context in contexts:
        context.close()
    assert not errors, f"JavaScript errors in the page: {errors}"


# -- page helpers --------------------------------------------------------------------------------


def select_lower_left(page: Any) -> None:
    """A rectangle over the lower-left quarter of the canvas: cluster 0 of the spectral view."""
    box = canvas_box(page)
    start = (box["x"] + 3, box["y"] + box["height"] - 3)
    drag(page, [start, (box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)])


def cluster0_members(projects: dict, category: str = "n00000100") -> np.ndarray:
    facts = projects["alpha"].analyses[0]
    return facts.index[category][facts.clusterings[category]["kmeans-02"] == 0]


# -- tests ---------------------------------------------------------------------------------------


def test_every_panel_mounts_including_a_third_party_one(pages: Any) -> None:
    page = pages()
    pages.screens.take(page, "loaded")
    mounted = page.eval_on_selector_all("[data-panel]", "els => els.map(e => e.dataset.panel)")
    for name in (
        "project_tabs",
        "state_share",
        "analysis_setup",
        "colormap_picker",
        "mode_switch",
        "embedding_canvas",
        "score_plot",
        "cluster_list",
        "sample_strip",
        "fixture_note",
    ):
        assert name in mounted
    note = page.locator('[data-panel="fixture_note"]')
    expect(note.locator(".fixture-greeting")).to_have_text("Hello from relscope-fixture-panel")
    assert page.locator(".canvas-stage").get_attribute("data-renderer") == "webgl"
    page.keyboard.press("a")  # select all: the third-party panel follows the shared store
    expect(note.locator(".fixture-count")).to_have_text("fixture sees 32 selected")
    pages.screens.take(page, "fixture-follows-selection")


def test_project_tabs_switch_projects_and_keep_the_url(pages: Any, projects: dict) -> None:
    page = pages()
    canvas_alpha = pixels(page, ".canvas-stage")
    previous = drawn_key(page)
    page.click('.project-tab[data-project="1"]')
    wait_redraw(page, previous)
    pages.screens.take(page, "beta")
    expect(page.locator('.project-tab[data-project="1"]')).to_have_attribute(
        "aria-selected", "true"
    )
    assert "project=1" in page.url and "analysis=tsne" in page.url
    beta = projects["beta"].analyses[0]
    count = len(beta.index["n00000100"])
    assert page.locator(".canvas-stage").get_attribute("data-points") == str(count)
    assert changed_fraction(canvas_alpha, pixels(page, ".canvas-stage")) > 0.001
    previous = drawn_key(page)
    page.click('.project-tab[data-project="0"]')
    wait_redraw(page, previous)
    assert "project=0" in page.url


def test_setup_changes_redraw_the_canvas(pages: Any) -> None:
    page = pages()
    steps = [
        ("clustering", "kmeans-03"),
        ("embedding", "spectral"),  # the page opens on t-SNE
        ("category", "n00000102"),
        ("analysis", "pca"),
    ]
    for name, value in steps:
        before = pixels(page, ".canvas-stage")
        choose(page, name, value)
        pages.screens.take(page, f"{name}-{value}")
        assert changed_fraction(before, pixels(page, ".canvas-stage")) > 0.001, name
        assert f"{name}={value}" in page.url
    # more than two dimensions: the X/Y pickers appear and change the picture
    expect(page.locator(".panel-analysis_setup .dims")).to_be_visible()
    before = pixels(page, ".canvas-stage")
    choose(page, "xdim", "2")
    assert changed_fraction(before, pixels(page, ".canvas-stage")) > 0.001


def test_colour_map_and_mode_change_the_sample_images(pages: Any) -> None:
    page = pages()
    page.keyboard.press("a")
    wait_strip_images(page)
    first = ".strip figure.sample img"
    attribution = pixels(page, first)
    bar = pixels(page, ".colormap-bar")
    page.select_option('select[name="colormap"]', "gray")
    wait_strip_images(page)
    page.wait_for_timeout(150)
    pages.screens.take(page, "gray")
    assert changed_fraction(attribution, pixels(page, first)) > 0.2
    assert changed_fraction(bar, pixels(page, ".colormap-bar")) > 0.2
    gray = pixels(page, first)
    for mode in ("Overlay", "Input"):
        before = pixels(page, first)
        page.click(f'.mode-buttons button:has-text("{mode}")')
        wait_strip_images(page)
        page.wait_for_timeout(150)
        pages.screens.take(page, mode.lower())
        assert changed_fraction(before, pixels(page, first)) > 0.05, mode
    # the input does not depend on the colour map
    page.select_option('select[name="colormap"]', "bwr")
    page.wait_for_timeout(200)
    assert changed_fraction(gray, pixels(page, first)) > 0.05
    assert "mode=input" in page.url and "colormap=bwr" in page.url


def test_rectangle_select_fills_the_sample_strip(pages: Any, projects: dict) -> None:
    page = pages()
    choose(page, "embedding", "spectral")  # cluster 0 lies lower left there
    select_lower_left(page)
    members = cluster0_members(projects)
    expect(page.locator("#selection-count")).to_have_text(f"{len(members)} selected")
    wait_strip_images(page)
    pages.screens.take(page, "rectangle")
    shown = page.eval_on_selector_all(".strip figure", "els => els.map(e => +e.dataset.index)")
    assert shown == sorted(members.tolist())
    # shift adds a lasso around the other cluster (upper-right quarter)
    page.keyboard.press("l")
    box = canvas_box(page)
    x0, y0, w, h = box["x"], box["y"], box["width"], box["height"]
    corners = [(x0 + w / 2 + 4, y0 + 4), (x0 + w - 4, y0 + 4), (x0 + w - 4, y0 + h / 2 - 4)]
    drag(page, [*corners, (x0 + w / 2 + 4, y0 + h / 2 - 4), corners[0]], shift=True)
    expect(page.locator("#selection-count")).to_have_text("32 selected")
    pages.screens.take(page, "lasso-added")
    page.keyboard.press("Escape")
    expect(page.locator("#selection-count")).to_have_text("0 selected")


def test_selected_points_are_drawn_differently(pages: Any) -> None:
    page = pages()
    choose(page, "embedding", "spectral")  # cluster 0 lies lower left there
    before = pixels(page, ".canvas-stage")
    previous = drawn_key(page)
    select_lower_left(page)
    page.wait_for_timeout(200)
    assert drawn_key(page) == previous  # same data, only the selection changed
    assert changed_fraction(before, pixels(page, ".canvas-stage")) > 0.001


def test_clicking_a_cluster_selects_its_points(pages: Any, projects: dict) -> None:
    page = pages()
    facts = projects["alpha"].analyses[0]
    labels = facts.clusterings["n00000100"]["kmeans-02"]
    for cluster in (1, 0):
        item = page.locator(f'.cluster[data-cluster="{cluster}"]')
        expect(item.locator(".cluster-count")).to_have_text(str(int((labels == cluster).sum())))
        item.click()
        expect(page.locator("#selection-count")).to_have_text(
            f"{int((labels == cluster).sum())} selected"
        )
        expect(item).to_have_attribute("aria-selected", "true")
        pages.screens.take(page, f"cluster-{cluster}")
    prototype = page.locator('.cluster[data-cluster="0"] img.prototype')
    page.wait_for_function(
        "img => img.complete && img.naturalWidth > 0", arg=prototype.element_handle()
    )


def test_eigenvalue_plot_shows_one_bar_per_eigenvalue_in_every_view(
    pages: Any, projects: dict
) -> None:
    page = pages()
    eigenvalues = projects["alpha"].analyses[0].eigenvalues["n00000100"]["spectral"]
    assert page.input_value('select[data-setup="embedding"]') == "tsne"  # the first screen
    for embedding in ("tsne", "spectral"):
        if page.input_value('select[data-setup="embedding"]') != embedding:
            choose(page, "embedding", embedding)
        expect(page.locator(".score-plot rect.bar")).to_have_count(len(eigenvalues))
        heights = page.eval_on_selector_all(
            ".score-plot rect.bar", "els => els.map(e => +e.getAttribute('height'))"
        )
        assert np.argsort(heights).tolist() == np.argsort(eigenvalues).tolist()
        expect(page.locator(".panel-score_plot h2")).to_have_text("Eigenvalues (spectral)")
        pages.screens.take(page, f"eigenvalues-{embedding}")
    choose(page, "analysis", "pca")  # an analysis without eigenvalues says so
    expect(page.locator(".score-plot rect.bar")).to_have_count(0)
    expect(page.locator(".score-plot")).to_contain_text("no eigenvalues")


def test_categories_are_ranked_and_the_ranking_plot_opens_one(pages: Any, projects: dict) -> None:
    page = pages()
    scores = ALPHA_SEPARABILITY
    ranked = sorted(scores, key=lambda wnid: -max(scores[wnid].values()))
    options = page.eval_on_selector_all(
        'select[data-setup="category"] option', "els => els.map(e => [e.value, e.textContent])"
    )
    names = {c["word_net_id"]: c["name"] for c in CLASSES}
    assert options == [[w, f"{names[w]} ({w}) · {max(scores[w].values()):g}"] for w in ranked]
    # the first screen: the top category, its best clustering, the t-SNE view
    assert page.input_value('select[data-setup="category"]') == ranked[0]
    assert page.input_value('select[data-setup="clustering"]') == "kmeans-02"
    assert page.input_value('select[data-setup="embedding"]') == "tsne"
    bars = page.locator(".ranking-plot .rank")
    expect(bars).to_have_count(3)
    order = page.eval_on_selector_all(
        ".ranking-plot .rank", "els => els.map(e => e.dataset.category)"
    )
    assert order == ranked
    widths = page.eval_on_selector_all(
        ".ranking-plot rect.bar", "els => els.map(e => +e.getAttribute('width'))"
    )
    assert widths == sorted(widths, reverse=True) and widths[0] > widths[-1]
    expect(page.locator('.ranking-plot .rank[data-category="n00000100"]')).to_have_class(
        "rank current"
    )
    pages.screens.take(page, "ranking")
    previous = drawn_key(page)
    page.locator('.ranking-plot .rank[data-category="n00000102"] rect').click()
    wait_redraw(page, previous)
    # ring's best clustering is kmeans-03 (4.75 > 3.0): a click opens it with that one
    assert page.input_value('select[data-setup="category"]') == "n00000102"
    assert page.input_value('select[data-setup="clustering"]') == "kmeans-03"
    assert "category=n00000102" in page.url and "clustering=kmeans-03" in page.url
    pages.screens.take(page, "ranking-ring")


def test_a_shared_url_still_opens_on_its_own_choices(pages: Any, server: Any) -> None:
    url = f"{server.url}?project=0&analysis=spectral&category=n00000101&clustering=kmeans-03&embedding=spectral"
    page = pages(url)
    for name, value in (
        ("category", "n00000101"),
        ("clustering", "kmeans-03"),
        ("embedding", "spectral"),
    ):
        assert page.input_value(f'select[data-setup="{name}"]') == value


def test_the_project_note_is_shown_under_the_tabs(pages: Any) -> None:
    page = pages()
    expect(page.locator(".project-note")).to_be_hidden()
    page.click('.project-tab[data-project="1"]')
    expect(page.locator(".project-note")).to_have_text(BETA_NOTE)


def test_exported_state_imports_into_a_fresh_page(pages: Any, projects: dict, tmp_path: Path):
    page = pages()
    choose(page, "clustering", "kmeans-03")
    page.select_option('select[name="colormap"]', "france")
    page.click('.mode-buttons button:has-text("Overlay")')
    page.locator('.cluster[data-cluster="2"]').click()
    count = selected_count(page)
    assert count > 0
    with page.expect_download() as download:
        page.click(".export-state")
    saved = tmp_path / "state.json"
    download.value.save_as(str(saved))
    doc = json.loads(saved.read_text())
    assert doc["format"] == "relscope-explorer-state"
    assert doc["clustering"] == "kmeans-03" and doc["colormap"] == "france"
    facts = projects["alpha"].analyses[0]
    labels = facts.clusterings["n00000100"]["kmeans-03"]
    assert doc["selection"] == sorted(facts.index["n00000100"][labels == 2].tolist())
    pages.screens.take(page, "exported")

    fresh = pages()
    assert selected_count(fresh) == 0
    previous = drawn_key(fresh)
    fresh.set_input_files('.import-state input[type="file"]', str(saved))
    wait_redraw(fresh, previous)
    expect(fresh.locator("#selection-count")).to_have_text(f"{count} selected")
    pages.screens.take(fresh, "imported")
    assert fresh.input_value('select[data-setup="clustering"]') == "kmeans-03"
    assert fresh.input_value('select[name="colormap"]') == "france"
    assert fresh.locator('.mode-buttons [data-mode="overlay"]').get_attribute("aria-pressed") == (
        "true"
    )
    shown = fresh.eval_on_selector_all(".strip figure", "els => els.map(e => +e.dataset.index)")
    assert shown == doc["selection"]


def test_share_url_restores_the_state_in_a_fresh_page(pages: Any) -> None:
    page = pages()
    previous = drawn_key(page)
    page.click('.project-tab[data-project="1"]')
    wait_redraw(page, previous)
    choose(page, "category", "n00000102")
    page.select_option('select[name="colormap"]', "hot")
    page.click('.mode-buttons button:has-text("Input")')
    page.locator('.cluster[data-cluster="1"]').click()
    count = selected_count(page)
    page.click(".share-state")
    url = page.input_value(".share-url")
    pages.screens.take(page, "share")
    assert "sel=" in url
    fresh = pages(url)
    pages.screens.take(fresh, "shared")
    expect(fresh.locator("#selection-count")).to_have_text(f"{count} selected")
    expect(fresh.locator('.project-tab[data-project="1"]')).to_have_attribute(
        "aria-selected", "true"
    )
    assert fresh.input_value('select[data-setup="category"]') == "n00000102"
    assert fresh.input_value('select[name="colormap"]') == "hot"
    assert fresh.locator('.mode-buttons [data-mode="input"]').get_attribute("aria-pressed") == (
        "true"
    )


def test_search_paging_hover_and_colouring(pages: Any, projects: dict) -> None:
    page = pages()
    members = projects["alpha"].analyses[0].index["n00000100"]
    # search by index: 3 is in the category, 1 is not (reported)
    page.fill(".index-search input", f"{members[1]}, {members[4]}-{members[6]}, 1")
    page.press(".index-search input", "Enter")
    expect(page.locator("#selection-count")).to_have_text("4 selected")
    expect(page.locator(".message-error")).to_contain_text("not in this category")
    # paging through all 32 samples, 20 at a time
    page.evaluate("() => document.activeElement.blur()")
    page.keyboard.press("a")
    expect(page.locator(".strip figure")).to_have_count(20)
    page.click(".page-next")
    expect(page.locator(".strip figure")).to_have_count(12)
    shown = page.eval_on_selector_all(".strip figure", "els => els.map(e => +e.dataset.index)")
    assert shown == sorted(members.tolist())[20:]
    pages.screens.take(page, "page-2")
    # hover a point: its input image appears in the preview card
    position = page.evaluate("() => relscope.embedding.screenOf(0)")
    box = canvas_box(page)
    page.mouse.move(box["x"] + position[0], box["y"] + position[1])
    card = page.locator(".hover-card")
    expect(card).to_be_visible()
    expect(card).to_have_attribute("data-index", str(members[0]))
    assert f"/samples/{members[0]}/image" in card.locator("img").first.get_attribute("src")
    pages.screens.take(page, "hover")
    page.mouse.move(box["x"] + 2, box["y"] + 2)
    # colour by label and by prediction: predictions differ from labels for every fifth sample
    before = pixels(page, ".canvas-stage")
    page.select_option('select[name="colorBy"]', "prediction")
    page.wait_for_timeout(200)
    assert changed_fraction(before, pixels(page, ".canvas-stage")) > 0.0005
    expect(page.locator(".canvas-stage .legend")).to_be_visible()
    pages.screens.take(page, "colour-by-prediction")


def test_keyboard_shortcuts_pixelated_sampling_and_zoom(pages: Any) -> None:
    page = pages()
    page.keyboard.press("m")
    expect(page.locator('.mode-buttons [data-mode="overlay"]')).to_have_attribute(
        "aria-pressed", "true"
    )
    page.keyboard.press("a")
    wait_strip_images(page)
    rendering = "el => getComputedStyle(el).imageRendering"
    assert page.eval_on_selector(".strip img", rendering) == "pixelated"
    page.keyboard.press("p")
    expect(page.locator("body")).to_have_attribute("data-sampling", "smooth")
    assert page.eval_on_selector(".strip img", rendering) == "auto"
    page.keyboard.press("?")
    expect(page.locator("dialog.shortcut-help")).to_contain_text("Lasso select tool")
    page.keyboard.press("Escape")
    # wheel zoom at the cursor keeps the point under the cursor in place
    before = page.evaluate("() => relscope.embedding.screenOf(5)")
    box = canvas_box(page)
    page.mouse.move(box["x"] + before[0], box["y"] + before[1])
    page.mouse.wheel(0, -400)
    page.wait_for_timeout(150)
    after = page.evaluate("() => relscope.embedding.screenOf(5)")
    assert abs(after[0] - before[0]) < 1.5 and abs(after[1] - before[1]) < 1.5
    other_before = page.evaluate("() => relscope.embedding.screenOf(20)")
    page.keyboard.press("r")
    page.wait_for_timeout(100)
    assert page.evaluate("() => relscope.embedding.screenOf(20)") != other_before
    pages.screens.take(page, "smooth")


def test_dark_mode_follows_the_system(pages: Any) -> None:
    light = pages()
    dark = pages(color_scheme="dark")
    pages.screens.take(light, "light")
    pages.screens.take(dark, "dark")
    light_bg = pixels(light, ".canvas-stage")[4, 4].mean()
    dark_bg = pixels(dark, ".canvas-stage")[4, 4].mean()
    assert light_bg > 200 and dark_bg < 60


def test_token_required_when_serving_beyond_the_default_loopback(
    projects: dict, tmp_path: Path
) -> None:
    remote = Server(
        [str(projects["beta"].yaml_path), "--host", "127.0.0.2", "--port", "0"],
        server_env(),
        tmp_path,
    )
    try:
        assert remote.url.startswith("http://127.0.0.2:") and remote.token
        for path in ("", "api/projects", "static/explorer/shell.js"):
            with pytest.raises(urllib.error.HTTPError) as refused:
                urllib.request.urlopen(remote.url + path, timeout=10)
            assert refused.value.code == 401
            assert "token" in json.loads(refused.value.read())["error"]
        with urllib.request.urlopen(f"{remote.url}api/projects?token={remote.token}") as ok:
            assert json.loads(ok.read())[0]["name"] == "Beta shapes"
        request = urllib.request.Request(
            remote.url + "api/projects", headers={"Authorization": f"Bearer {remote.token}"}
        )
        with urllib.request.urlopen(request, timeout=10) as ok:
            assert ok.status == 200
    finally:
        remote.stop()
