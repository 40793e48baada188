"""HTTP routes of the concept panel, under ``/panels/concepts/``: JSON documents and PNGs read
from the project's concepts files (never computed: the explorer process holds no torch).

- ``GET projects/{id}``: the layers (channels, top-k) of the project's concepts files;
- ``POST projects/{id}/layers/{layer}/selection`` ``{"indices": [...] | null, "top": n}``: the
  ``n`` concepts with the largest mean |relevance| over the selected samples (all when null),
  each with its signed mean relevance and mean activation;
- ``GET projects/{id}/layers/{layer}/channels/{c}?kind=relmax|actmax``: the channel's reference
  samples (index, value, box) and every sample's relevance of it (``index``/``relevance``);
- ``GET .../channels/{c}/references/{kind}/{rank}.png?colormap=&crop=1``: a reference's stored
  conditional heatmap, cropped to its box;
- ``GET .../channels/{c}/samples/{index}``: one sample's relevance and activation of the channel
  and where its conditional heatmap is stored (among the references), or null when it is not;
  ``.../samples/{index}/heatmap.png`` that heatmap (404 when the file does not hold it).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from relscope.plugins.viewers.concepts.concept_sources import ConceptLayer, ConceptSources

#: the most selected indices one request may send
SELECTION_LIMIT = 1_000_000
#: reference kinds: by relevance (RelMax) and by activation (ActMax)
KINDS = ("relmax", "actmax")
IMAGE_CACHE = "private, max-age=3600"
SOURCES = ConceptSources()


def _api_error(status: int, message: str) -> Exception:
    from relscope.plugins.viewers.explorer.query import ApiError

    return ApiError(status, message)


def _project(request: Request) -> Any:
    return request.app.state.explorer.project(request.path_params["project_id"])


def _paths(project: Any) -> list[Any]:
    return list(project.project.concepts)


def _layer(request: Request) -> tuple[Any, ConceptLayer]:
    """The request's project and layer (404 naming the known layers when absent)."""
    project = _project(request)
    paths = _paths(project)
    if not paths:
        raise _api_error(404, f"project {project.name!r} names no concepts file")
    name = request.path_params["layer"]
    known = SOURCES.layers(paths)
    if name not in known:
        raise _api_error(
            404, f"no concept layer {name!r} in project {project.name!r}; known: {', '.join(known)}"
        )
    return project, SOURCES.layer(paths, name)


def _channel(request: Request, layer: ConceptLayer) -> int:
    from relscope.plugins.viewers.explorer.query import parse_int

    return parse_int(request.path_params["channel"], "channel", 0, layer.channels - 1)


def _kind(value: str | None) -> str:
    kind = value or "relmax"
    if kind not in KINDS:
        raise _api_error(400, f"kind must be one of {', '.join(KINDS)}, got {kind!r}")
    return kind


def project_summary(request: Request) -> Response:
    """GET: whether the project names concepts files, and each layer's channels and top-k."""
    project = _project(request)
    paths = _paths(project)
    if not paths:
        return JSONResponse({"available": False, "layers": []})
    layers = []
    for name in SOURCES.layers(paths):
        layer = SOURCES.layer(paths, name)
        entry = {"name": name, "channels": layer.channels, "top_k": layer.top_k}
        layers.append({**entry, "samples": len(layer.index), "file": layer.path.name})
    return JSONResponse({"available": True, "layers": layers})


def _selection_concepts(layer: ConceptLayer, indices: np.ndarray | None, top: int) -> dict:
    if indices is None:
        rows = np.arange(len(layer.index))
    else:
        rows, _ = layer.rows(indices)
    count = len(rows)
    if count:
        relevance = layer.relevance[np.sort(rows)].astype(np.float64).mean(axis=0)
        activation = layer.activation[np.sort(rows)].astype(np.float64).mean(axis=0)
    else:
        relevance = activation = np.zeros(layer.channels)
    order = np.lexsort((np.arange(layer.channels), -np.abs(relevance)))[:top]
    concepts = [
        {"channel": int(c), "relevance": float(relevance[c]), "activation": float(activation[c])}
        for c in order
    ]
    return {"layer": layer.name, "count": count, "all": indices is None, "concepts": concepts}


async def selection_concepts(request: Request) -> Response:
    """POST ``{"indices": [...] | null, "top": n}``: the most relevant concepts of the selection."""
    try:
        body = await request.json()
    except ValueError:
        raise _api_error(400, 'expected a JSON body {"indices": [...]}') from None
    if not isinstance(body, dict):
        raise _api_error(400, 'expected a JSON object {"indices": [...]}')
    values = body.get("indices")
    if values is not None and (
        not isinstance(values, list)
        or not all(isinstance(v, int) and not isinstance(v, bool) for v in values)
    ):
        raise _api_error(400, "'indices' must be a list of integers or null")
    if values is not None and len(values) > SELECTION_LIMIT:
        raise _api_error(400, f"at most {SELECTION_LIMIT} indices per request")
    top = body.get("top", 10)
    if not isinstance(top, int) or isinstance(top, bool) or top < 1:
        raise _api_error(400, "'top' must be a positive integer")
    _, layer = await run_in_threadpool(_layer, request)
    indices = None if values is None else np.asarray(values, dtype=np.int64)
    return JSONResponse(await run_in_threadpool(_selection_concepts, layer, indices, top))


def _references(layer: ConceptLayer, kind: str, channel: int) -> list[dict[str, Any]]:
    stored = SOURCES.references(layer, kind, channel)
    return [
        {"rank": rank, "index": int(index), "value": float(value), "box": [int(b) for b in box]}
        for rank, (index, value, box) in enumerate(
            zip(stored["index"], stored["value"], stored["box"])
        )
        if index >= 0
    ]


def channel_document(request: Request) -> Response:
    """GET: a channel's reference samples of ``kind`` and every sample's relevance of it."""
    _, layer = _layer(request)
    channel = _channel(request, layer)
    kind = _kind(request.query_params.get("kind"))
    return JSONResponse(
        {
            "layer": layer.name,
            "channel": channel,
            "kind": kind,
            "references": _references(layer, kind, channel),
            "index": layer.index.tolist(),
            "relevance": layer.relevance[:, channel].astype(float).tolist(),
        }
    )


def _png_response(request: Request, key: tuple, render: Any) -> Response:
    from relscope.plugins.viewers.explorer.api_routes import cached_response, context

    item = context(request).cache.get_or_render(key, render)
    return cached_response(request, item, "image/png", IMAGE_CACHE)


def _heatmap_png(request: Request, heatmap: np.ndarray, box: Any, key: tuple) -> Response:
    """The heatmap in the request's colour map (symmetric scaling), cropped to ``box`` unless
    ``crop=0``."""
    from relscope.core.heatmap import heatmap_indices, render_palette_png
    from relscope.plugins.viewers.explorer.api_routes import context
    from relscope.plugins.viewers.explorer.query import choice_param, text_param

    ctx = context(request)
    params = request.query_params
    cmap = ctx.colormap(text_param(params, "colormap", default=ctx.default_colormap()))
    crop = choice_param(params, "crop", ("1", "0"), default="1") == "1"

    def render() -> bytes:
        y0, y1, x0, x1 = (int(b) for b in box)
        shown = heatmap[y0:y1, x0:x1] if crop else heatmap
        return render_palette_png(heatmap_indices(np.asarray(shown, np.float32)), cmap)

    return _png_response(request, (*key, crop, cmap.lut.tobytes()), render)


def reference_heatmap(request: Request) -> Response:
    """GET: the stored conditional heatmap of one reference sample as a PNG."""
    from relscope.plugins.viewers.explorer.query import parse_int

    _, layer = _layer(request)
    channel = _channel(request, layer)
    kind = _kind(request.path_params["kind"])
    references = _references(layer, kind, channel)
    rank = parse_int(request.path_params["rank"], "rank", 0, max(0, len(references) - 1))
    if not references:
        raise _api_error(404, f"channel {channel} of {layer.name!r} has no {kind} references")
    heatmap = SOURCES.reference_heatmap(layer, kind, channel, rank)
    key = ("concept", str(layer.path), layer.path.stat().st_mtime, layer.name, kind, channel, rank)
    return _heatmap_png(request, heatmap, references[rank]["box"], key)


def _stored_at(layer: ConceptLayer, channel: int, index: int) -> dict[str, Any] | None:
    """Where the conditional heatmap of sample ``index`` for ``channel`` is stored, if anywhere."""
    for kind in KINDS:
        for reference in _references(layer, kind, channel):
            if reference["index"] == index:
                return {"kind": kind, "rank": reference["rank"], "box": reference["box"]}
    return None


def _sample_index(request: Request, layer: ConceptLayer) -> tuple[int, int]:
    from relscope.plugins.viewers.explorer.query import parse_int

    index = parse_int(request.path_params["index"], "index")
    rows, _ = layer.rows(np.asarray([index]))
    if not len(rows):
        raise _api_error(404, f"sample {index} is not in {layer.path.name}")
    return index, int(rows[0])


def sample_document(request: Request) -> Response:
    """GET: one sample's relevance and activation of a channel, and its stored heatmap if any."""
    _, layer = _layer(request)
    channel = _channel(request, layer)
    index, row = _sample_index(request, layer)
    return JSONResponse(
        {
            "index": index,
            "channel": channel,
            "relevance": float(layer.relevance[row, channel]),
            "activation": float(layer.activation[row, channel]),
            "heatmap": _stored_at(layer, channel, index),
        }
    )


def sample_heatmap(request: Request) -> Response:
    """GET: the sample's conditional heatmap of the channel, when the file stores it."""
    _, layer = _layer(request)
    channel = _channel(request, layer)
    index, _ = _sample_index(request, layer)
    stored = _stored_at(layer, channel, index)
    if stored is None:
        raise _api_error(
            404,
            f"{layer.path.name} stores no conditional heatmap of sample {index} for channel "
            f"{channel} of {layer.name!r} (only of each channel's reference samples)",
        )
    heatmap = SOURCES.reference_heatmap(layer, stored["kind"], channel, stored["rank"])
    key = ("concept", str(layer.path), layer.path.stat().st_mtime, layer.name)
    return _heatmap_png(request, heatmap, stored["box"], (*key, stored["kind"], channel, index))


_CHANNEL = "/projects/{project_id}/layers/{layer}/channels/{channel}"
ROUTES = [
    Route("/projects/{project_id}", project_summary, methods=["GET"]),
    Route("/projects/{project_id}/layers/{layer}/selection", selection_concepts, methods=["POST"]),
    Route(_CHANNEL, channel_document, methods=["GET"]),
    Route(_CHANNEL + "/references/{kind}/{rank}.png", reference_heatmap, methods=["GET"]),
    Route(_CHANNEL + "/samples/{index}", sample_document, methods=["GET"]),
    Route(_CHANNEL + "/samples/{index}/heatmap.png", sample_heatmap, methods=["GET"]),
]
