"""Images rendered by the server: input, heatmap (attribution or overlay), cluster prototype, and
colour-map bars. PNGs carry an ETag and long cache headers and stay in the render cache.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable

import numpy as np
from PIL import Image
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from relscope.core.colormap import ColorMap
from relscope.core.heatmap import (
    MODES,
    colormap_bar_png,
    heatmap_indices,
    image_png,
    render_overlay,
    render_palette_png,
)
from relscope.plugins.viewers.explorer.api_routes import analysis_category, cached_response, context
from relscope.plugins.viewers.explorer.query import (
    ApiError,
    choice_param,
    cluster_id_param,
    known_name,
    sample_index,
    text_param,
)
from relscope.plugins.viewers.explorer.render_cache import CachedBody
from relscope.plugins.viewers.explorer.served_project import ServedProject

#: images are addressed by everything that changes them (plus the project's file version)
IMAGE_CACHE = "private, max-age=31536000, immutable"
#: how many members of a cluster its prototype averages (evenly spaced over the cluster)
PROTOTYPE_SAMPLES = 64
HEATMAP_VIEWS = ("attribution", "overlay")


def warm_up_renderers(cmap: ColorMap) -> None:
    """Render a tiny heatmap and overlay once, so the encoders' one-time set-up happens at start
    and not in the first person's first view."""
    indices = np.full((2, 2), 128, dtype=np.uint8)
    render_palette_png(indices, cmap)
    render_overlay(indices, np.zeros((2, 2, 1), dtype=np.float32), cmap)


def _resized_to(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """``image`` (H, W, C) in [0, 1] resized to (height, width) when it differs."""
    if image.shape[:2] == (height, width):
        return image
    pixels = np.floor(np.clip(image, 0, 1) * 255 + 0.5).astype(np.uint8)
    if pixels.shape[2] == 1:
        pixels = pixels[:, :, 0]
    resized = Image.fromarray(pixels).resize((width, height), Image.Resampling.BILINEAR)
    array = np.asarray(resized, dtype=np.float32) / 255.0
    return array if array.ndim == 3 else array[:, :, None]


def _project_and_index(request: Request) -> tuple[ServedProject, int]:
    project = context(request).project(request.path_params["project"])
    return project, sample_index(request.path_params["index"], len(project))


async def _cached_or_rendered(
    request: Request, key: Hashable, render: Callable[[], bytes]
) -> CachedBody:
    """The cached body of ``key`` straight from the event loop (a dictionary look-up), else
    rendered on one of the render threads started with the server: reading files and encoding
    PNGs never block the loop, and an image already rendered costs no thread hand-off."""
    ctx = context(request)
    item = ctx.cache.get(key)
    if item is not None:
        return item
    return await ctx.renderers.run(ctx.cache.get_or_render, key, render)


async def input_image(request: Request) -> Response:
    """``GET /api/projects/{id}/samples/{index}/image``: the input image as PNG."""
    project, index = _project_and_index(request)
    key = ("image", project.id, project.version, index)
    item = await _cached_or_rendered(request, key, lambda: image_png(project.image(index)))
    return cached_response(request, item, "image/png", IMAGE_CACHE)


async def heatmap_image(request: Request) -> Response:
    """``GET .../samples/{index}/heatmap?colormap=&mode=attribution|overlay&scaling=``: a PNG."""
    ctx = context(request)
    project, index = _project_and_index(request)
    params = request.query_params
    view = choice_param(params, "mode", HEATMAP_VIEWS, default="attribution")
    scaling = choice_param(params, "scaling", MODES, default="symmetric")
    cmap_name = text_param(params, "colormap", default=ctx.default_colormap())
    cmap = ctx.colormap(cmap_name)
    if not project.has_attribution(index):
        raise ApiError(404, f"sample {index} has no attribution in project {project.name!r}")

    def render() -> bytes:
        indices = heatmap_indices(project.attribution(index), mode=scaling)
        if view == "attribution":
            return render_palette_png(indices, cmap)
        image = _resized_to(project.image(index), *indices.shape)
        return render_overlay(indices, image, cmap)

    key = ("heatmap", project.id, project.version, index, view, scaling, cmap.lut.tobytes())
    item = await _cached_or_rendered(request, key, render)
    return cached_response(request, item, "image/png", IMAGE_CACHE)


def prototype_image(request: Request) -> Response:
    """``GET .../analyses/{method}/prototype?category=&clustering=&cluster=&colormap=``.

    The mean attribution of (up to PROTOTYPE_SAMPLES evenly spaced) members of one cluster.
    """
    ctx = context(request)
    project = ctx.project(request.path_params["project"])
    params = request.query_params
    method = request.path_params["method"]
    category, part, clustering = analysis_category(project, method, params)
    cluster = cluster_id_param(params)
    scaling = choice_param(params, "scaling", MODES, default="symmetric")
    cmap = ctx.colormap(text_param(params, "colormap", default=ctx.default_colormap()))
    labels = np.asarray(part.clusterings[clustering])
    members = np.asarray(part.index, dtype=np.int64)[labels == cluster]
    if members.size == 0:
        present = sorted(set(labels.tolist()))
        known_name(str(cluster), "cluster", [str(c) for c in present], status=404)
    if not project.has_attributions:
        raise ApiError(404, f"project {project.name!r} has no attributions")
    members = np.asarray([m for m in members.tolist() if project.has_attribution(m)])
    if members.size == 0:
        raise ApiError(404, f"no member of cluster {cluster} has an attribution")
    if members.size > PROTOTYPE_SAMPLES:
        picks = np.linspace(0, members.size - 1, PROTOTYPE_SAMPLES).round().astype(int)
        members = members[picks]

    def render() -> bytes:
        total = None
        for member in members.tolist():
            attribution = project.attribution(member).astype(np.float64)
            total = attribution if total is None else total + attribution
        assert total is not None
        return render_palette_png(heatmap_indices(total / len(members), mode=scaling), cmap)

    key = (
        "prototype",
        project.id,
        project.version,
        method,
        category,
        clustering,
        cluster,
        scaling,
        cmap.lut.tobytes(),
    )
    item = ctx.cache.get_or_render(key, render)
    return cached_response(request, item, "image/png", IMAGE_CACHE)


def colormap_bar(request: Request) -> Response:
    """``GET /api/colormaps/{name}.png``: the colour map as a 256 x 16 gradient (low left)."""
    ctx = context(request)
    name = known_name(request.path_params["name"], "colour map", ctx.colormaps, status=404)
    cmap = ctx.colormap(name)
    key = ("colormap-bar", cmap.lut.tobytes())
    item = ctx.cache.get_or_render(key, lambda: colormap_bar_png(cmap))
    return cached_response(request, item, "image/png", "private, max-age=3600")


ROUTES = [
    Route("/api/projects/{project}/samples/{index}/image", input_image),
    Route("/api/projects/{project}/samples/{index}/heatmap", heatmap_image),
    Route("/api/projects/{project}/analyses/{method}/prototype", prototype_image),
    Route("/api/colormaps/{name}.png", colormap_bar),
]
