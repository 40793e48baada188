"""Explorer panel: faithfulness — the project's perturbation curves (MoRF/LeRF with bands, from
the evaluation file its YAML names) and the selected samples' mean curve against the data set's."""

from __future__ import annotations

import importlib.resources
import threading
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from relscope.core.viewer_panel import Panel

#: the most selected indices one request may send
SELECTION_LIMIT = 1_000_000
_cache: dict[Path, tuple[float, dict[str, Any]]] = {}
_lock = threading.Lock()


def _document(request: Request) -> tuple[Any, dict[str, Any] | None]:
    """The served project of the request and its evaluation document (None when it names none)."""
    from relscope.core.evaluation.evaluation_file import project_evaluation, read_evaluation

    project = request.app.state.explorer.project(request.path_params["project_id"])
    if project.project.path is None:
        return project, None
    path = project_evaluation(project.project.path)
    if path is None:
        return project, None
    mtime = path.stat().st_mtime if path.exists() else -1.0
    with _lock:
        cached = _cache.get(path)
        if cached is None or cached[0] != mtime:
            cached = (mtime, read_evaluation(path))
            _cache[path] = cached
    return project, cached[1]


def evaluation_summary(request: Request) -> Response:
    """GET: the project's evaluated methods with their data-set curves, bands and scores."""
    from relscope.core.evaluation.evaluation_file import curve_bands

    project, document = _document(request)
    if document is None:
        return JSONResponse({"available": False})
    attribution = project.project.attributions
    return JSONResponse(
        {
            "available": True,
            "step": document["config"]["settings"]["step"],
            "region": document["config"]["settings"]["region"],
            "samples": len(document["indices"]),
            "attribution_method": attribution.attribution_method if attribution else None,
            "methods": curve_bands(document),
        }
    )


async def selection_summary(request: Request) -> Response:
    """POST ``{"indices": [...]}``: each method's mean curves over the evaluated selected samples."""
    import numpy as np
    from starlette.concurrency import run_in_threadpool

    from relscope.core.evaluation.evaluation_file import selection_curves
    from relscope.plugins.viewers.explorer.query import ApiError

    try:
        body = await request.json()
    except ValueError:
        raise ApiError(400, 'expected a JSON body {"indices": [...]}') from None
    values = body.get("indices") if isinstance(body, dict) else None
    if not isinstance(values, list) or not all(
        isinstance(v, int) and not isinstance(v, bool) for v in values
    ):
        raise ApiError(400, "'indices' must be a list of integers")
    if len(values) > SELECTION_LIMIT:
        raise ApiError(400, f"at most {SELECTION_LIMIT} indices per request")
    project, document = await run_in_threadpool(_document, request)
    if document is None:
        raise ApiError(404, f"project {project.id!r} names no evaluation file")
    indices = np.asarray(values, dtype=np.int64)
    return JSONResponse(await run_in_threadpool(selection_curves, document, indices))


PANEL = Panel(
    name="faithfulness",
    region="right",
    routes=[
        Route("/projects/{project_id}", evaluation_summary, methods=["GET"]),
        Route("/projects/{project_id}/selection", selection_summary, methods=["POST"]),
    ],
    static=importlib.resources.files("relscope.plugins.viewers.faithfulness") / "static",
    js=["faithfulness.js"],
    css=["faithfulness.css"],
    description="Faithfulness: perturbation curves of the project and of the selection",
    order=20,
)
