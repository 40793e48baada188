"""JSON/binary API of the explorer: projects, analysis points, sample details, colour maps, panels.

Routes are plain synchronous functions (Starlette runs them in its thread pool, where HDF5 reads
do not block the event loop), except the analysis points: a view already rendered is answered from
the event loop (a dictionary look-up, no thread hand-off) and a new one is rendered on the
explorer's render threads.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from relscope.core.data.analysis import CategoryAnalysis
from relscope.plugins.viewers.explorer.explorer_context import ExplorerContext
from relscope.plugins.viewers.explorer.points_payload import PointsView
from relscope.plugins.viewers.explorer.query import (
    choice_param,
    index_list_param,
    int_param,
    known_name,
    sample_index,
    text_param,
)
from relscope.plugins.viewers.explorer.served_project import ServedProject

#: how many top classes a sample's prediction lists
TOP_CLASSES = 5
#: the most samples one ``/samples?indices=`` request may ask for
SAMPLE_LIST_LIMIT = 500


def context(request: Request) -> ExplorerContext:
    """The explorer state of the app serving ``request``."""
    return request.app.state.explorer


def none_match(header: str, etag: str) -> bool:
    """Whether ``If-None-Match: header`` matches ``etag`` (RFC 9110: ``*``, weak comparison)."""
    if header.strip() == "*":
        return True
    opaque = etag.removeprefix("W/")
    return any(tag.strip().removeprefix("W/") == opaque for tag in header.split(","))


def cached_response(request: Request, item: Any, media_type: str, cache_control: str) -> Response:
    """200 with ETag and cache headers, or 304 when the client already holds these bytes."""
    headers = {"ETag": item.etag, "Cache-Control": cache_control}
    if none_match(request.headers.get("if-none-match", ""), item.etag):
        return Response(status_code=304, headers=headers)
    return Response(item.body, media_type=media_type, headers=headers)


def list_projects(request: Request) -> Response:
    """``GET /api/projects``: id, name, model and data set of every served project."""
    return JSONResponse([p.summary() for p in context(request).projects.values()])


def project_details(request: Request) -> Response:
    """``GET /api/projects/{id}``: labels, analyses with categories, clusterings, embeddings."""
    project = context(request).project(request.path_params["project"])
    return JSONResponse(project.details())


def analysis_category(
    project: ServedProject, method: str, params: Any
) -> tuple[str, CategoryAnalysis, str]:
    """The ``category`` of analysis ``method`` (404 unknown method, 400 unknown category), and
    the validated ``clustering`` name."""
    analysis = project.analyses[known_name(method, "analysis method", project.analyses, 404)]
    category = known_name(text_param(params, "category"), "category", analysis.categories)
    part = analysis.categories[category]
    clustering = known_name(text_param(params, "clustering"), "clustering", part.clusterings)
    return category, part, clustering


def analysis_meta(
    project: ServedProject, method: str, params: Any
) -> tuple[dict[str, Any], CategoryAnalysis]:
    """Validate the analysis parameters: the view's description and its category's analysis
    (no file is read, so this may run on the event loop)."""
    category, part, clustering = analysis_category(project, method, params)
    embedding = known_name(text_param(params, "embedding"), "embedding", part.embeddings)
    dims = int(part.embeddings[embedding].shape[1])
    xdim = int_param(params, "x", default=0, maximum=dims - 1)
    ydim = int_param(params, "y", default=1, maximum=dims - 1)
    meta = {
        "project": project.id,
        "analysis": method,
        "category": category,
        "clustering": clustering,
        "embedding": embedding,
        "dims": dims,
        "xdim": xdim,
        "ydim": ydim,
        "eigenvalues_of": eigenvalue_source(part, embedding),
    }
    return meta, part


def points_view(project: ServedProject, meta: dict[str, Any], part: CategoryAnalysis) -> PointsView:
    """The per-point arrays of the view ``meta`` describes (the first call reads the project's
    labels and predictions)."""
    index = part.index.astype(np.int64)
    coords = part.embeddings[meta["embedding"]]
    eigen_of = meta["eigenvalues_of"]
    return PointsView(
        meta=meta,
        index=index,
        cluster=part.clusterings[meta["clustering"]],
        label=project.first_labels[index],
        prediction=project.predicted[index],
        x=coords[:, meta["xdim"]],
        y=coords[:, meta["ydim"]],
        eigenvalues=None if eigen_of is None else part.eigenvalues[eigen_of],
    )


def analysis_view(project: ServedProject, method: str, params: Any) -> PointsView:
    """Validate the analysis parameters and gather the view's per-point arrays."""
    return points_view(project, *analysis_meta(project, method, params))


def eigenvalue_source(part: CategoryAnalysis, embedding: str) -> str | None:
    """The embedding whose eigenvalues a view shows: its own, else the category's first embedding
    with eigenvalues (a t-SNE view of a spectral analysis shows the spectral eigenvalues)."""
    if part.eigenvalues.get(embedding) is not None:
        return embedding
    return next((name for name, eig in part.eigenvalues.items() if eig is not None), None)


async def analysis_points(request: Request) -> Response:
    """``GET /api/projects/{id}/analyses/{method}``: the points of one category's embedding."""
    ctx = context(request)
    project = ctx.project(request.path_params["project"])
    params = request.query_params
    meta, part = analysis_meta(project, request.path_params["method"], params)
    binary = choice_param(params, "format", ("json", "binary"), default="json") == "binary"
    key = (
        "points",
        project.id,
        project.version,
        meta["analysis"],
        meta["category"],
        meta["clustering"],
        meta["embedding"],
        meta["xdim"],
        meta["ydim"],
        binary,
    )

    def render() -> bytes:
        view = points_view(project, meta, part)
        return view.to_binary() if binary else view.to_json()

    item = ctx.cache.get(key)
    if item is None:
        item = await ctx.renderers.run(ctx.cache.get_or_render, key, render)
    media = "application/octet-stream" if binary else "application/json"
    return cached_response(request, item, media, "no-cache")


def sample_documents(project: ServedProject, indices: Sequence[int]) -> list[dict[str, Any]]:
    """Labels, prediction (top classes) and size of several samples, read in one pass: sizes
    from metadata (a token sample: its length), predictions with one selection per file."""
    predictions = project.predictions(indices)
    documents = []
    for index in indices:
        if project.is_tokens:
            size, channels = [int(project.inputs.mask(index).sum())], 0
        else:
            height, width, channels = project.shape(index)
            size = [height, width]
        labels = [
            project.label_map.by_index(label).as_dict() for label in project.inputs.labels(index)
        ]
        prediction = predictions.get(index)
        predicted = None
        if prediction is not None:
            order = np.argsort(-prediction, kind="stable")[:TOP_CLASSES]
            top = []
            for k in order.tolist():
                name = project.label_map.name(k) if k in project.label_map else str(k)
                top.append({"index": int(k), "name": name, "score": float(prediction[k])})
            predicted = {"classes": int(prediction.shape[0]), "top": top}
        documents.append(
            {
                "index": index,
                "labels": labels,
                "prediction": predicted,
                "size": size,
                "channels": channels,
                "has_attribution": project.has_attribution(index),
            }
        )
    return documents


def sample_details(request: Request) -> Response:
    """``GET /api/projects/{id}/samples/{index}``: labels, prediction, size."""
    project = context(request).project(request.path_params["project"])
    index = sample_index(request.path_params["index"], len(project))
    return JSONResponse(sample_documents(project, [index])[0])


def sample_list(request: Request) -> Response:
    """``GET /api/projects/{id}/samples?indices=3,10-12``: the details of several samples."""
    project = context(request).project(request.path_params["project"])
    indices = index_list_param(request.query_params, "indices", len(project), SAMPLE_LIST_LIMIT)
    return JSONResponse(sample_documents(project, [int(i) for i in indices]))


def list_colormaps(request: Request) -> Response:
    """``GET /api/colormaps``: registered colour maps with their specs."""
    return JSONResponse(context(request).colormap_list())


def list_panels(request: Request) -> Response:
    """``GET /api/panels``: every registered panel with its region, order and static assets."""
    result = []
    for entry in context(request).panels:
        panel = entry.obj
        result.append(
            {
                "name": panel.name,
                "region": panel.region,
                "order": panel.order,
                "description": panel.description or entry.description,
                "plugin": entry.plugin,
                "distribution": entry.distribution,
                "version": entry.version,
                **panel.asset_urls(),
            }
        )
    return JSONResponse(result)


ROUTES = [
    Route("/api/projects", list_projects),
    Route("/api/projects/{project}", project_details),
    Route("/api/projects/{project}/analyses/{method}", analysis_points),
    Route("/api/projects/{project}/samples", sample_list),
    Route("/api/projects/{project}/samples/{index}", sample_details),
    Route("/api/colormaps", list_colormaps),
    Route("/api/panels", list_panels),
]
