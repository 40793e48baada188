"""The explorer's HTTP API against projects written with h5py from docs/formats.md.

Expected values come from the generator's arrays and from the formulas in docs (symmetric heatmap
scaling, overlay mix), never from the explorer itself.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from relscope.core.cli.main import main
from relscope.core.colormap import get_colormap
from relscope.core.errors import ExplorerError, PanelError, RelscopeError
from relscope.core.registry import Registry, RegistryEntry
from relscope.core.viewer_panel import Panel
from relscope.plugins.viewers.explorer.app import build_app
from relscope.plugins.viewers.explorer.points_payload import decode_binary
from relscope.plugins.viewers.explorer.served_project import load_projects
from tests.explorer_projects import CLASSES, write_alpha, write_beta, write_gamma

BASE = "http://127.0.0.1"


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> dict:
    root = tmp_path_factory.mktemp("explorer-api")
    return {
        "alpha": write_alpha(root / "alpha"),
        "beta": write_beta(root / "beta"),
        "gamma": write_gamma(root / "gamma"),
    }


@pytest.fixture(scope="module")
def client(written: dict) -> TestClient:
    projects = load_projects([written[k].yaml_path for k in ("alpha", "beta", "gamma")])
    with TestClient(build_app(projects), base_url=BASE) as test_client:
        yield test_client


def png_array(body: bytes) -> np.ndarray:
    """Pixels of a PNG: indices for palette images, RGB otherwise."""
    image = Image.open(io.BytesIO(body))
    return np.asarray(image)


def png_rgb(body: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(body)).convert("RGB"))


def symmetric_indices(attribution: np.ndarray) -> np.ndarray:
    """Heatmap indices by the documented rule: sum channels, map +-max|R| to 0..255."""
    summed = attribution.astype(np.float64).sum(axis=0)
    unit = (summed / np.abs(summed).max() + 1.0) / 2.0
    return np.floor(unit * 255.0 + 0.5).astype(np.uint8)


def analysis_url(project: str, method: str, **params: object) -> str:
    query = "&".join(f"{k}={v}" for k, v in params.items())
    return f"/api/projects/{project}/analyses/{method}?{query}"


# -- projects ------------------------------------------------------------------------------------


def test_project_list_names_every_served_project(client: TestClient) -> None:
    response = client.get("/api/projects")
    assert response.status_code == 200
    assert response.json() == [
        {"id": "0", "name": "Alpha shapes", "model": "TinyNet", "dataset": "shapes"},
        {"id": "1", "name": "Beta shapes", "model": "TinyNet-B", "dataset": "shapes-b"},
        {"id": "2", "name": "Gamma folders", "model": "TinyNet-C", "dataset": "shapes-c"},
    ]


def test_project_details_list_analyses_categories_and_choices(
    client: TestClient, written: dict
) -> None:
    details = client.get("/api/projects/0").json()
    assert details["size"] == written["alpha"].count
    assert details["labels"] == CLASSES
    assert details["attribution"] == {
        "method": "epsilon_plus_flat",
        "strategy": "true_label",
        "count": written["alpha"].count,
    }
    spectral, pca = details["analyses"]
    assert spectral["method"] == "spectral" and pca["method"] == "pca"
    facts = written["alpha"].analyses[0]
    assert spectral["categories"] == [
        {"id": c["word_net_id"], "name": c["name"], "count": len(facts.index[c["word_net_id"]])}
        for c in CLASSES
    ]
    assert spectral["clusterings"] == ["kmeans-02", "kmeans-03"]
    assert spectral["embeddings"] == [
        {"name": "spectral", "dims": 5, "eigenvalues": True},
        {"name": "tsne", "dims": 2, "eigenvalues": False},
    ]
    assert pca["clusterings"] == ["dbscan-eps=0.5", "kmeans-02", "kmeans-03"]
    assert pca["embeddings"] == [{"name": "pca", "dims": 3, "eigenvalues": False}]


# -- analysis points -----------------------------------------------------------------------------


def test_points_match_the_analysis_file_and_split_attributions(
    client: TestClient, written: dict
) -> None:
    alpha = written["alpha"]
    facts = alpha.analyses[0]
    category = CLASSES[1]["word_net_id"]
    url = analysis_url(
        "0", "spectral", category=category, clustering="kmeans-03", embedding="spectral", x=2, y=4
    )
    doc = client.get(url).json()
    index = facts.index[category]
    assert doc["index"] == index.tolist()
    assert doc["cluster"] == facts.clusterings[category]["kmeans-03"].tolist()
    coords = facts.embeddings[category]["spectral"][:, [2, 4]]
    np.testing.assert_allclose(np.asarray(doc["coordinates"]), coords, rtol=1e-6)
    np.testing.assert_allclose(doc["eigenvalues"], facts.eigenvalues[category]["spectral"])
    assert doc["label"] == alpha.labels[index].tolist()
    # predictions come from two attribution files, each holding its rows under `index`
    assert doc["prediction"] == alpha.predictions[index].argmax(axis=1).tolist()
    assert (doc["dims"], doc["xdim"], doc["ydim"], doc["count"]) == (5, 2, 4, len(index))


def test_binary_points_decode_to_the_json_points(client: TestClient) -> None:
    params = {"category": "n00000102", "clustering": "dbscan-eps=0.5", "embedding": "pca"}
    as_json = client.get(analysis_url("0", "pca", **params)).json()
    response = client.get(analysis_url("0", "pca", format="binary", **params))
    assert response.headers["content-type"] == "application/octet-stream"
    decoded = decode_binary(response.content)
    assert decoded["index"].tolist() == as_json["index"]
    assert decoded["cluster"].tolist() == as_json["cluster"]
    assert decoded["prediction"].tolist() == as_json["prediction"]
    xy = np.stack([decoded["x"], decoded["y"]], axis=1)
    np.testing.assert_array_equal(xy, np.asarray(as_json["coordinates"], dtype=np.float32))
    assert decoded["eigenvalues"] is None
    for name in ("index", "cluster", "label", "prediction", "x", "y"):
        offset = decoded[name].__array_interface__["data"][0]
        assert offset % 4 == 0  # aligned, so browsers wrap typed arrays without copying


def test_noise_cluster_minus_one_is_served(client: TestClient, written: dict) -> None:
    facts = written["alpha"].analyses[1]
    category = "n00000100"
    doc = client.get(
        analysis_url("0", "pca", category=category, clustering="dbscan-eps=0.5", embedding="pca")
    ).json()
    expected = facts.clusterings[category]["dbscan-eps=0.5"]
    assert doc["cluster"] == expected.tolist()
    assert doc["cluster"].count(-1) == 2


def test_group_per_sample_project_without_eigenvalues(client: TestClient, written: dict) -> None:
    beta = written["beta"]
    facts = beta.analyses[0]
    category = "n00000101"
    doc = client.get(
        analysis_url("1", "tsne", category=category, clustering="kmeans-02", embedding="tsne")
    ).json()
    assert doc["eigenvalues"] is None
    assert doc["index"] == facts.index[category].tolist()
    assert doc["prediction"] == beta.predictions[facts.index[category]].argmax(axis=1).tolist()
    sample = client.get("/api/projects/1/samples/4").json()  # n-hot label group
    label = int(beta.labels[4])
    assert sample["labels"] == [CLASSES[label]]
    assert sample["size"] == [16, 16] and sample["channels"] == 3


def test_points_responses_revalidate_with_etag(client: TestClient) -> None:
    url = analysis_url(
        "0", "spectral", category="n00000100", clustering="kmeans-02", embedding="tsne"
    )
    first = client.get(url)
    again = client.get(url, headers={"If-None-Match": first.headers["etag"]})
    assert again.status_code == 304 and again.content == b""
    assert first.headers["cache-control"] == "no-cache"


@pytest.mark.parametrize(
    ("if_none_match", "status"),
    [
        ("{etag}", 304),
        ("W/{etag}", 304),  # If-None-Match compares weakly (RFC 9110, 13.1.2)
        ('"other", W/{etag}', 304),
        ("*", 304),  # any current representation
        ('"other"', 200),
        ('W/"other", "also-other"', 200),
    ],
)
def test_images_answer_if_none_match_by_rfc_9110(
    client: TestClient, if_none_match: str, status: int
) -> None:
    url = "/api/projects/0/samples/1/image"
    first = client.get(url)
    etag = first.headers["etag"]
    answer = client.get(url, headers={"If-None-Match": if_none_match.format(etag=etag)})
    assert answer.status_code == status
    assert answer.headers["etag"] == etag
    assert answer.content == (b"" if status == 304 else first.content)


def test_sample_list_equals_the_single_sample_documents(client: TestClient, written: dict) -> None:
    listed = client.get("/api/projects/0/samples?indices=0-47").json()
    assert listed == [client.get(f"/api/projects/0/samples/{i}").json() for i in range(48)]
    predictions = written["alpha"].predictions
    for document in listed:
        best = int(np.argmax(predictions[document["index"]]))
        assert document["prediction"]["top"][0]["index"] == best
        assert document["size"] == list(written["alpha"].images.shape[1:3])


# -- samples and images --------------------------------------------------------------------------


def test_sample_details_give_labels_prediction_and_size(client: TestClient, written: dict) -> None:
    alpha = written["alpha"]
    doc = client.get("/api/projects/0/samples/7").json()
    assert doc["labels"] == [CLASSES[int(alpha.labels[7])]]
    outputs = alpha.predictions[7]
    top = doc["prediction"]["top"]
    assert [t["index"] for t in top] == np.argsort(-outputs).tolist()
    np.testing.assert_allclose([t["score"] for t in top], np.sort(outputs)[::-1], rtol=1e-6)
    assert doc["size"] == [16, 16] and doc["has_attribution"] is True


def test_sample_list_returns_each_requested_sample(client: TestClient) -> None:
    docs = client.get("/api/projects/0/samples?indices=3,10-12").json()
    assert [d["index"] for d in docs] == [3, 10, 11, 12]


@pytest.mark.parametrize(("project", "key", "index"), [("0", "alpha", 5), ("1", "beta", 9)])
def test_input_image_png_holds_the_stored_pixels(
    client: TestClient, written: dict, project: str, key: str, index: int
) -> None:
    response = client.get(f"/api/projects/{project}/samples/{index}/image")
    assert response.headers["content-type"] == "image/png"
    expected = np.floor(written[key].images[index] * 255 + 0.5).astype(np.uint8)
    np.testing.assert_array_equal(png_rgb(response.content), expected)


@pytest.mark.parametrize(("project", "key", "index"), [("0", "alpha", 6), ("1", "beta", 2)])
def test_heatmap_png_follows_symmetric_scaling(
    client: TestClient, written: dict, project: str, key: str, index: int
) -> None:
    body = client.get(
        f"/api/projects/{project}/samples/{index}/heatmap?colormap=coldnhot&mode=attribution"
    ).content
    expected = symmetric_indices(written[key].attributions[index])
    assert np.abs(png_array(body).astype(int) - expected.astype(int)).max() <= 1
    lut = get_colormap("coldnhot").lut
    np.testing.assert_array_equal(png_rgb(body), lut[png_array(body)])


def test_overlay_mixes_heatmap_and_grey_input(client: TestClient, written: dict) -> None:
    alpha = written["alpha"]
    body = client.get("/api/projects/0/samples/4/heatmap?colormap=bwr&mode=overlay").content
    indices = png_array(
        client.get("/api/projects/0/samples/4/heatmap?colormap=bwr&mode=attribution").content
    )
    pixels = np.floor(alpha.images[4] * 255 + 0.5) / 255.0
    grey = pixels @ np.array([0.299, 0.587, 0.114])
    colours = get_colormap("bwr").lut[indices].astype(np.float64)
    expected = 0.5 * colours + 0.5 * 255.0 * grey[:, :, None]
    assert np.abs(png_rgb(body).astype(float) - expected).max() <= 1.0


def test_images_differ_between_colour_maps_and_carry_cache_headers(client: TestClient) -> None:
    url = "/api/projects/0/samples/2/heatmap?mode=attribution&colormap="
    hot = client.get(url + "coldnhot")
    bwr = client.get(url + "bwr")
    assert hot.content != bwr.content and hot.headers["etag"] != bwr.headers["etag"]
    assert "max-age=31536000" in hot.headers["cache-control"]
    cached = client.get(url + "coldnhot", headers={"If-None-Match": hot.headers["etag"]})
    assert cached.status_code == 304
    # a colour-map spec works as well as a name
    spec = client.get(url + "0ff,00f,80:000,f00,ff0,fff")
    np.testing.assert_array_equal(png_rgb(spec.content), png_rgb(hot.content))


def test_render_cache_serves_repeated_images_from_memory(client: TestClient) -> None:
    cache = client.app.state.explorer.cache
    url = "/api/projects/0/samples/11/heatmap?colormap=hot&mode=overlay"
    client.get(url)
    hits = cache.hits
    assert client.get(url).status_code == 200
    assert cache.hits == hits + 1


def test_prototype_is_the_mean_heatmap_of_the_cluster(client: TestClient, written: dict) -> None:
    alpha = written["alpha"]
    facts = alpha.analyses[1]
    category = "n00000101"
    labels = facts.clusterings[category]["dbscan-eps=0.5"]
    for cluster in (-1, 1):
        members = facts.index[category][labels == cluster]
        url = (
            f"/api/projects/0/analyses/pca/prototype?category={category}"
            f"&clustering=dbscan-eps=0.5&cluster={cluster}&colormap=gray"
        )
        response = client.get(url)
        assert response.status_code == 200, response.text
        mean = alpha.attributions[members].mean(axis=0)
        got = png_array(response.content).astype(int)
        assert np.abs(got - symmetric_indices(mean).astype(int)).max() <= 1


def test_image_directory_project_with_partial_attributions(
    client: TestClient, written: dict
) -> None:
    gamma = written["gamma"]
    image = client.get("/api/projects/2/samples/3/image")
    expected = np.floor(gamma.images[3] * 255 + 0.5).astype(np.uint8)
    np.testing.assert_array_equal(png_rgb(image.content), expected)
    assert client.get("/api/projects/2/samples/3").json()["has_attribution"] is False
    missing = client.get("/api/projects/2/samples/3/heatmap?colormap=gray")
    assert missing.status_code == 404 and "no attribution" in missing.json()["error"]
    present = client.get("/api/projects/2/samples/4/heatmap?colormap=gray")
    expected_indices = symmetric_indices(gamma.attributions[4])
    assert np.abs(png_array(present.content).astype(int) - expected_indices).max() <= 1
    # the prototype averages only members that have an attribution
    facts = gamma.analyses[0]
    category = "n00000100"
    members = facts.index[category][facts.clusterings[category]["kmeans-02"] == 1]
    attributed = [m for m in members if m % 2 == 0]
    url = (
        f"/api/projects/2/analyses/spectral/prototype?category={category}"
        "&clustering=kmeans-02&cluster=1&colormap=gray"
    )
    mean = gamma.attributions[attributed].mean(axis=0)
    got = png_array(client.get(url).content).astype(int)
    assert np.abs(got - symmetric_indices(mean).astype(int)).max() <= 1


# -- colour maps and panels ----------------------------------------------------------------------


def test_colour_maps_and_their_preview_bars(client: TestClient) -> None:
    maps = {m["name"]: m for m in client.get("/api/colormaps").json()}
    assert maps["coldnhot"]["default"] is True
    assert maps["bwr"]["spec"] == "00f,80:fff,f00"
    bar = png_rgb(client.get("/api/colormaps/bwr.png").content)
    lut = get_colormap("bwr").lut
    np.testing.assert_array_equal(bar[0, [0, 128, 255]], lut[[0, 128, 255]])  # low left


def test_panels_list_regions_and_serve_their_modules(client: TestClient) -> None:
    panels = client.get("/api/panels").json()
    by_name = {p["name"]: p for p in panels}
    expected = {
        "project_tabs": "header",
        "state_share": "header",
        "analysis_setup": "left",
        "colormap_picker": "left",
        "mode_switch": "left",
        "embedding_canvas": "center",
        "score_plot": "right",
        "cluster_list": "right",
        "sample_strip": "bottom",
    }
    assert {name: by_name[name]["region"] for name in expected} == expected
    regions = [p["region"] for p in panels]
    assert regions == sorted(regions, key=["header", "left", "center", "right", "bottom"].index)
    for panel in panels:
        for url in panel["js"]:
            response = client.get(url)
            assert response.status_code == 200
            assert "javascript" in response.headers["content-type"]
            assert "export function mount" in response.text
    page = client.get("/").text
    for panel in panels:
        for url in panel["css"]:
            assert f'href="{url}"' in page
    assert client.get("/static/explorer/shell.js").status_code == 200


# -- malformed parameters: always 4xx with a JSON error, never 500 --------------------------------

POINTS = "/api/projects/0/analyses/spectral"
GOOD = "category=n00000100&clustering=kmeans-02&embedding=spectral"
PROTO = "/api/projects/0/analyses/pca/prototype?category=n00000100&clustering=dbscan-eps=0.5"

MALFORMED = [
    # unknown names
    ("/api/projects/9", 404),
    ("/api/projects/alpha", 404),
    ("/api/projects/0/analyses/umap?" + GOOD, 404),
    (POINTS + "?category=n09999999&clustering=kmeans-02&embedding=spectral", 400),
    (POINTS + "?category=n00000100&clustering=kmeans-99&embedding=spectral", 400),
    (POINTS + "?category=n00000100&clustering=kmeans-02&embedding=umap", 400),
    ("/api/colormaps/nope.png", 404),
    ("/api/projects/0/samples/1/heatmap?colormap=nope", 400),
    ("/api/projects/0/samples/1/heatmap?colormap=zzz,fff", 400),
    ("/api/projects/0/samples/1/heatmap?mode=bogus", 400),
    ("/api/projects/0/samples/1/heatmap?scaling=bogus", 400),
    (POINTS + "?" + GOOD + "&format=xml", 400),
    ("/api/nothing/here", 404),
    # missing parameters
    (POINTS + "?clustering=kmeans-02&embedding=spectral", 400),
    (POINTS + "?category=n00000100&embedding=spectral", 400),
    (POINTS + "?category=n00000100&clustering=kmeans-02", 400),
    ("/api/projects/0/samples", 400),
    (PROTO, 400),
    # non-integers
    (POINTS + "?" + GOOD + "&x=a", 400),
    (POINTS + "?" + GOOD + "&y=1.5", 400),
    ("/api/projects/0/samples/abc", 400),
    ("/api/projects/0/samples/1.5/image", 400),
    ("/api/projects/0/samples/-1/heatmap", 400),
    ("/api/projects/0/samples?indices=1,x", 400),
    (PROTO + "&cluster=x", 400),
    (PROTO + "&cluster=-2", 400),
    # out of range
    (POINTS + "?" + GOOD + "&x=5", 400),
    (POINTS + "?" + GOOD + "&x=-1", 400),
    ("/api/projects/0/samples/48", 404),
    ("/api/projects/0/samples/48/image", 404),
    ("/api/projects/0/samples/99999999999999999", 400),
    ("/api/projects/0/samples?indices=47,48", 404),
    ("/api/projects/0/samples?indices=0-5000", 400),
    ("/api/projects/0/samples?indices=5-2", 400),
    (PROTO + "&cluster=7", 404),
    # empty index lists
    ("/api/projects/0/samples?indices=", 400),
    ("/api/projects/0/samples?indices=,,", 400),
    ("/api/projects/0/samples?indices=3,", 400),
]


@pytest.mark.parametrize(("url", "status"), MALFORMED)
def test_malformed_parameters_get_4xx_with_a_json_error(
    client: TestClient, url: str, status: int
) -> None:
    response = client.get(url)
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert isinstance(error, str) and error


def test_error_messages_name_the_parameter_and_the_known_values(client: TestClient) -> None:
    error = client.get(POINTS + "?category=n00000100&clustering=kmeans-99&embedding=spectral")
    assert "kmeans-99" in error.json()["error"] and "kmeans-02" in error.json()["error"]
    missing = client.get(POINTS + "?clustering=kmeans-02&embedding=spectral").json()["error"]
    assert "category" in missing


@pytest.mark.parametrize(
    "path",
    [
        "/static/explorer/..%2F..%2F..%2Fpyproject.toml",
        "/static/explorer/%2e%2e/%2e%2e/app.py",
        "/panels/embedding_canvas/static/..%2F__init__.py",
        "/panels/embedding_canvas/static/%2e%2e/__init__.py",
    ],
)
def test_static_routes_never_leave_their_folder(client: TestClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 404
    assert "hookimpl" not in response.text and "[project]" not in response.text


# -- access control ------------------------------------------------------------------------------


def test_loopback_server_refuses_foreign_host_headers(client: TestClient) -> None:
    assert client.get("/api/projects", headers={"Host": "evil.example:8080"}).status_code == 403
    assert client.get("/api/projects", headers={"Host": "localhost:8080"}).status_code == 200


def test_non_loopback_server_needs_the_token_on_every_request(written: dict) -> None:
    projects = load_projects([written["alpha"].yaml_path])
    token = "s3cret-token-for-tests-0123"
    app = build_app(projects, token=token, host="0.0.0.0")
    with TestClient(app, base_url="http://192.0.2.10:8080") as remote:
        for path in ("/", "/api/projects", "/static/explorer/shell.js"):
            refused = remote.get(path)
            assert refused.status_code == 401 and "token" in refused.json()["error"]
        assert remote.get("/api/projects", params={"token": "wrong"}).status_code == 401
        bearer = remote.get("/api/projects", headers={"Authorization": f"Bearer {token}"})
        assert bearer.status_code == 200
        opened = remote.get("/", params={"token": token})
        assert opened.status_code == 200 and "relscope_token" in opened.headers["set-cookie"]
        # the page's own requests then carry the cookie
        assert remote.get("/api/projects/0").status_code == 200


def test_non_loopback_server_without_token_is_refused(written: dict) -> None:
    projects = load_projects([written["alpha"].yaml_path])
    with pytest.raises(ExplorerError, match="token"):
        build_app(projects, host="0.0.0.0")


# -- project loading -----------------------------------------------------------------------------


def test_duplicate_project_names_are_refused(written: dict) -> None:
    path = written["alpha"].yaml_path
    with pytest.raises(ExplorerError, match="Alpha shapes"):
        load_projects([path, path])


def test_analysis_index_outside_the_data_set_is_refused(tmp_path: Path) -> None:
    import h5py

    alpha = write_alpha(tmp_path / "alpha")
    with h5py.File(alpha.analyses[0].path, "a") as f:
        del f["n00000100/index"]
        f["n00000100/index"] = np.arange(100, 116)
    with pytest.raises(RelscopeError, match="n00000100/index"):
        load_projects([alpha.yaml_path])


def test_serve_command_reports_bad_input_as_one_line(
    written: dict, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["serve", str(tmp_path / "absent.yaml"), "--port", "0"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("relscope: error:") and "absent.yaml" in err and err.count("\n") == 1
    assert main(["serve", str(written["alpha"].yaml_path), "--token", "abc"]) == 2
    captured = capsys.readouterr()
    assert "--token" in captured.err and captured.out == ""


# -- panels as plugins ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"name": "Bad Name", "region": "left"}, "panel name"),
        ({"name": "x", "region": "sidebar"}, "region 'sidebar'"),
        ({"name": "x", "region": "left", "static": ".", "js": ["../secret.js"]}, "relative"),
        ({"name": "x", "region": "left", "static": ".", "css": ["/etc/passwd"]}, "relative"),
        ({"name": "x", "region": "left", "js": ["a.js"]}, "no static folder"),
    ],
)
def test_malformed_panels_are_refused(kwargs: dict, message: str) -> None:
    with pytest.raises(PanelError, match=message):
        Panel(**kwargs)


def test_a_panel_whose_assets_are_missing_stops_the_app(written: dict, tmp_path: Path) -> None:
    panel = Panel(name="broken", region="left", static=tmp_path, js=["absent.js"])
    entry = RegistryEntry("broken", panel, "test-plugin", None, None, "")
    registry = Registry("panels", {"broken": entry})
    projects = load_projects([written["beta"].yaml_path])
    with pytest.raises(ExplorerError, match="absent.js"):
        build_app(projects, panels=registry)


def test_a_panel_with_own_routes_and_files_is_mounted(written: dict, tmp_path: Path) -> None:
    (tmp_path / "hello.js").write_text("export function mount(element) {}\n")

    def hello(request: object) -> JSONResponse:
        return JSONResponse({"hello": "panel"})

    panel = Panel(
        name="hello", region="bottom", routes=[Route("/hi", hello)], static=tmp_path,
        js=["hello.js"],
    )  # fmt: skip
    registry = Registry("panels", {"hello": RegistryEntry("hello", panel, "t", None, None, "")})
    projects = load_projects([written["beta"].yaml_path])
    with TestClient(build_app(projects, panels=registry), base_url=BASE) as local:
        assert local.get("/panels/hello/hi").json() == {"hello": "panel"}
        assert local.get("/panels/hello/static/hello.js").text.startswith("export function")
        listed = local.get("/api/panels").json()
        assert listed == [
            {
                "name": "hello",
                "region": "bottom",
                "order": 100,
                "description": "",
                "plugin": "t",
                "distribution": None,
                "version": None,
                "js": ["/panels/hello/static/hello.js"],
                "css": [],
            }
        ]
