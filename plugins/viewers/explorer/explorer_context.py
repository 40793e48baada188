"""What every explorer route needs: served projects, colour maps, panels, the render cache."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from relscope.core.colormap import ColorMap, as_colormap, parse_colormap
from relscope.core.errors import ColorMapError
from relscope.core.registry import Registry, RegistryEntry
from relscope.plugins.viewers.explorer.query import ApiError, known_name
from relscope.plugins.viewers.explorer.render_cache import RenderCache
from relscope.plugins.viewers.explorer.render_pool import RenderPool
from relscope.plugins.viewers.explorer.served_project import ServedProject

#: colour maps preferred as the page's default, first found wins
DEFAULT_COLORMAPS = ("coldnhot", "bwr", "france", "gray")


class ExplorerContext:
    """Shared, read-only state of one running explorer (plus its cache)."""

    def __init__(
        self,
        projects: Sequence[ServedProject],
        colormaps: Registry,
        panels: Sequence[RegistryEntry],
        cache: RenderCache | None = None,
    ) -> None:
        self.projects = {p.id: p for p in projects}
        self.colormaps = colormaps
        self.panels = list(panels)
        self.cache = cache if cache is not None else RenderCache()
        #: the threads rendering what the cache misses (started when the app starts serving)
        self.renderers = RenderPool()
        self._parsed: dict[str, ColorMap] = {}

    def project(self, project_id: str) -> ServedProject:
        """The project with id ``project_id`` (404 otherwise)."""
        return self.projects[known_name(project_id, "project", self.projects, status=404)]

    def default_colormap(self) -> str:
        """The colour map used when a request names none."""
        for name in DEFAULT_COLORMAPS:
            if name in self.colormaps:
                return name
        names = list(self.colormaps)
        if not names:
            raise ApiError(404, "no colour maps are registered")
        return names[0]

    def colormap(self, name_or_spec: str) -> ColorMap:
        """A registered colour map, or a spec like ``00f,80:fff,f00`` (400 when neither)."""
        cached = self._parsed.get(name_or_spec)
        if cached is not None:
            return cached
        if name_or_spec in self.colormaps:
            cmap = as_colormap(self.colormaps.lookup(name_or_spec), name=name_or_spec)
        elif "," in name_or_spec:
            try:
                cmap = parse_colormap(name_or_spec)
            except ColorMapError as exc:
                raise ApiError(400, f"colormap: {exc}") from None
        else:
            known_name(name_or_spec, "colour map", self.colormaps)
            raise AssertionError("unreachable")
        if len(self._parsed) < 1024:
            self._parsed[name_or_spec] = cmap
        return cmap

    def colormap_list(self) -> list[dict[str, Any]]:
        """The ``/api/colormaps`` document."""
        default = self.default_colormap() if len(self.colormaps) else None
        result = []
        for name in self.colormaps:
            entry = self.colormaps.entry(name)
            cmap = as_colormap(entry.obj, name=name)
            result.append(
                {
                    "name": name,
                    "description": entry.description,
                    "spec": cmap.spec,
                    "default": name == default,
                }
            )
        return result
