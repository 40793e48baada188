"""The explorer's routes for token projects: a sample's tokens with their relevance and colours,
and a cluster's prototype, the tokens with the highest mean relevance among its members.

Colours follow the heatmap rule (symmetric: ``floor(255 · (R / max|R| + 1) / 2 + 0.5)``, so zero
relevance is index 128, the middle of the colour map), per sample.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from relscope.core.token_html import token_colors
from relscope.plugins.viewers.explorer.api_routes import analysis_category, context
from relscope.plugins.viewers.explorer.query import (
    ApiError,
    cluster_id_param,
    int_param,
    known_name,
    sample_index,
    text_param,
)
from relscope.plugins.viewers.explorer.served_project import ServedProject

#: tokens a prototype lists unless ``top`` says otherwise
PROTOTYPE_TOKENS = 5


def _token_project(request: Request) -> ServedProject:
    project = context(request).project(request.path_params["project"])
    if not project.is_tokens:
        raise ApiError(404, f"project {project.name!r} holds images, not tokens")
    return project


def sample_tokens(request: Request) -> Response:
    """``GET /api/projects/{id}/samples/{index}/tokens?colormap=``: the unmasked tokens, their
    relevance and colours (both null without an attribution)."""
    ctx = context(request)
    project = _token_project(request)
    index = sample_index(request.path_params["index"], len(project))
    cmap = ctx.colormap(text_param(request.query_params, "colormap", ctx.default_colormap()))
    ids = project.inputs.token_ids(index)
    mask = project.inputs.mask(index)
    tokens = [project.inputs.vocabulary[i] for i in ids[mask].tolist()]
    relevance = colors = None
    if project.has_attribution(index):
        values = project.attribution(index)[mask]
        relevance = [float(v) for v in values]
        colors = token_colors(values, cmap)
    return JSONResponse(
        {"index": index, "tokens": tokens, "relevance": relevance, "colors": colors},
        headers={"Cache-Control": "no-cache"},
    )


def cluster_token_relevance(project: ServedProject, members: np.ndarray) -> np.ndarray:
    """(V,) float64: each vocabulary id's relevance summed per member, averaged over members
    (the cluster mean of the bag-of-relevance view)."""
    total = np.zeros(len(project.inputs.vocabulary), dtype=np.float64)
    for member in members.tolist():
        ids = project.inputs.token_ids(member)
        np.add.at(total, ids, project.attribution(member).astype(np.float64))
    return total / max(len(members), 1)


def token_prototype(request: Request) -> Response:
    """``GET .../analyses/{method}/token-prototype?category=&clustering=&cluster=&top=``: the
    tokens with the highest mean relevance in one cluster, highest first."""
    project = _token_project(request)
    params = request.query_params
    _, part, clustering = analysis_category(project, request.path_params["method"], params)
    cluster = cluster_id_param(params)
    top = int_param(params, "top", default=PROTOTYPE_TOKENS, maximum=100)
    labels = np.asarray(part.clusterings[clustering])
    members = np.asarray(part.index, dtype=np.int64)[labels == cluster]
    if members.size == 0:
        present = sorted(set(labels.tolist()))
        known_name(str(cluster), "cluster", [str(c) for c in present], status=404)
    members = np.asarray([m for m in members.tolist() if project.has_attribution(m)], np.int64)
    if members.size == 0:
        raise ApiError(404, f"no member of cluster {cluster} has an attribution")
    mean = cluster_token_relevance(project, members)
    order = np.argsort(-mean, kind="stable")
    order = order[mean[order] != 0][: max(top, 1)]  # tokens the members never hold are no part
    entries: list[dict[str, Any]] = [
        {"id": int(i), "token": project.inputs.vocabulary[int(i)], "mean_relevance": float(mean[i])}
        for i in order.tolist()
    ]
    return JSONResponse(
        {"cluster": cluster, "members": int(members.size), "tokens": entries},
        headers={"Cache-Control": "no-cache"},
    )


ROUTES = [
    Route("/api/projects/{project}/samples/{index}/tokens", sample_tokens),
    Route("/api/projects/{project}/analyses/{method}/token-prototype", token_prototype),
]
