"""Build the explorer's Starlette app from the served projects and the registered panels.

Layout of URLs: ``/`` the page, ``/static/explorer/`` the shell's modules, ``/api/...`` the API,
``/panels/<name>/`` each panel's own routes and ``/panels/<name>/static/`` its files.
"""

from __future__ import annotations

import contextlib
import importlib.resources
import os
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from relscope.core.data.read_ahead import ReadAhead
from relscope.core.errors import ExplorerError, RelscopeError
from relscope.core.registry import Registry, RegistryEntry, get_registry
from relscope.core.viewer_panel import REGIONS, Panel
from relscope.plugins.viewers.explorer import api_routes, image_routes, token_routes
from relscope.plugins.viewers.explorer.access_guard import (
    TOKEN_PATTERN,
    AccessGuard,
    loopback_host_names,
    needs_token,
)
from relscope.plugins.viewers.explorer.explorer_context import ExplorerContext
from relscope.plugins.viewers.explorer.page import render_page
from relscope.plugins.viewers.explorer.query import ApiError
from relscope.plugins.viewers.explorer.render_cache import RenderCache
from relscope.plugins.viewers.explorer.request_activity import RequestActivity
from relscope.plugins.viewers.explorer.served_project import ServedProject

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' data: blob:; style-src 'self' 'unsafe-inline'; "
    "script-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; "
    "frame-ancestors 'none'"
)


class SecurityHeaders:
    """ASGI middleware adding protective headers; static files get ``no-cache`` (revalidate)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        static = scope["path"].startswith(("/static/", "/panels/"))

        async def send_with_headers(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {key.lower() for key, _ in headers}
                extra = [
                    (b"x-content-type-options", b"nosniff"),
                    (b"referrer-policy", b"no-referrer"),
                    (b"x-frame-options", b"DENY"),
                    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
                ]
                if static and b"cache-control" not in present:
                    extra.append((b"cache-control", b"no-cache"))
                message = {**message, "headers": headers + extra}
            await send(message)

        await self.app(scope, receive, send_with_headers)


def sorted_panels(registry: Registry) -> list[RegistryEntry]:
    """Panel entries in page order: region, then ``order``, then name."""
    entries = registry.entries()
    for entry in entries:
        if not isinstance(entry.obj, Panel):
            raise ExplorerError(
                f"plugin {entry.plugin!r} registered panel {entry.name!r} as "
                f"{type(entry.obj).__name__}, expected relscope.core.viewer_panel.Panel"
            )
    return sorted(entries, key=lambda e: (REGIONS.index(e.obj.region), e.obj.order, e.name))


def _folder(resource: Any, stack: contextlib.ExitStack, what: str) -> Path:
    """A real directory for a package resource folder (or a path), kept for the app's life."""
    if isinstance(resource, (str, os.PathLike)):
        path = Path(resource)
    else:
        path = Path(stack.enter_context(importlib.resources.as_file(resource)))
    if not path.is_dir():
        raise ExplorerError(f"{what}: static folder {path} does not exist")
    return path


def panel_mounts(panels: Sequence[RegistryEntry], stack: contextlib.ExitStack) -> list[BaseRoute]:
    """One Mount per panel: its routes, and its static folder under ``static/``."""
    mounts: list[BaseRoute] = []
    for entry in panels:
        panel: Panel = entry.obj
        routes: list[BaseRoute] = list(panel.routes)
        if panel.static is not None:
            folder = _folder(panel.static, stack, f"panel {panel.name!r} ({entry.plugin})")
            for asset in (*panel.js, *panel.css):
                if not (folder / asset).is_file():
                    raise ExplorerError(
                        f"panel {panel.name!r} ({entry.plugin}): {asset!r} is not in {folder}"
                    )
            routes.append(Mount("/static", app=StaticFiles(directory=folder, follow_symlink=True)))
        mounts.append(Mount(panel.prefix, routes=routes))
    return mounts


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


async def _api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return _error(exc.status, exc.message)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 304:
        return Response(status_code=304, headers=exc.headers)
    message = exc.detail if exc.status_code != 404 else f"not found: {request.url.path}"
    return _error(exc.status_code, str(message))


async def _data_error(request: Request, exc: Exception) -> Response:
    return _error(500, f"the project's files could not be read: {exc}")


async def _internal_error(request: Request, exc: Exception) -> Response:
    return _error(500, f"internal error: {type(exc).__name__}")


def _read_aheads(projects: Sequence[ServedProject]) -> list[ReadAhead]:
    """The distinct background read-aheads of the projects' block caches."""
    found: dict[int, ReadAhead] = {}
    for project in projects:
        if project.blocks.read_ahead is not None:
            found.setdefault(id(project.blocks.read_ahead), project.blocks.read_ahead)
    return list(found.values())


def build_app(
    projects: Sequence[ServedProject],
    *,
    token: str | None = None,
    host: str = "127.0.0.1",
    pm: Any = None,
    panels: Registry | None = None,
    colormaps: Registry | None = None,
    cache: RenderCache | None = None,
) -> Starlette:
    """The explorer app for ``projects``; a ``host`` beyond the default loopback needs ``token``.

    Panels and colour maps come from the plugin registries (of ``pm``, default: the process-wide
    plugin manager) unless given.
    """
    if needs_token(host) and not token:
        raise ExplorerError(f"serving on {host} needs an access token")
    if token is not None and not TOKEN_PATTERN.fullmatch(token):
        raise ExplorerError(
            "the access token must be 16 to 256 characters of letters, digits, '.', '_', '~' or '-'"
        )
    panel_entries = sorted_panels(panels if panels is not None else get_registry("panels", pm))
    cmap_registry = colormaps if colormaps is not None else get_registry("colormaps", pm)
    stack = contextlib.ExitStack()
    shell = importlib.resources.files("relscope.plugins.viewers.explorer") / "static"
    shell_folder = _folder(shell, stack, "explorer shell")
    page = render_page(panel_entries)

    def index(request: Request) -> Response:
        return HTMLResponse(page, headers={"Cache-Control": "no-cache"})

    routes: list[BaseRoute] = [
        Route("/", index),
        *api_routes.ROUTES,
        *image_routes.ROUTES,
        *token_routes.ROUTES,
        Mount("/static/explorer", app=StaticFiles(directory=shell_folder, follow_symlink=True)),
        *panel_mounts(panel_entries, stack),
    ]

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        app.state.explorer.renderers.start()
        for project in projects:  # small files decode in the background from the start
            project.start_read_ahead()
        try:
            yield
        finally:
            app.state.explorer.renderers.shutdown()
            for project in projects:
                project.close()
            stack.close()

    guard_hosts = None if needs_token(host) else loopback_host_names(host)
    app = Starlette(
        routes=routes,
        middleware=[  # outermost first: refusals of the guard carry the security headers too
            Middleware(SecurityHeaders),
            Middleware(AccessGuard, token=token, allowed_hosts=guard_hosts),
            Middleware(RequestActivity, read_aheads=_read_aheads(projects)),
        ],
        exception_handlers={
            ApiError: _api_error,
            HTTPException: _http_error,
            RelscopeError: _data_error,
            Exception: _internal_error,
        },
        lifespan=lifespan,
    )
    app.state.explorer = ExplorerContext(projects, cmap_registry, panel_entries, cache)
    return app
