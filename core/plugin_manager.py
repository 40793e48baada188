"""Build the pluggy plugin manager: entry points, loose plugin files, blocking, strictness, tracing.

Every plugin (built-in or third-party) is found through the ``relscope`` entry-point group, one at a
time, so that one broken plugin is recorded as failed and skipped instead of taking the CLI down.
"""

from __future__ import annotations

import functools
import importlib.metadata
import importlib.util
import os
import sys
from collections.abc import Iterable
from pathlib import Path
from types import ModuleType
from typing import Any

import attrs
import pluggy

from relscope.core import hookspecs
from relscope.core.errors import PluginError

PROJECT_NAME = "relscope"
ENTRY_POINT_GROUP = "relscope"
STRICT_ENV = "RELSCOPE_STRICT_PLUGINS"
DISABLE_ENV = "RELSCOPE_DISABLE_PLUGINS"
PLUGINS_DIR_ENV = "RELSCOPE_PLUGINS_DIR"
TRACE_ENV = "RELSCOPE_TRACE_PLUGINS"


@attrs.define
class PluginStatus:
    """What happened to one plugin: where it came from, which hooks it implements, and its state."""

    name: str
    module: str
    distribution: str | None
    version: str | None
    status: str  # "loaded" | "failed" | "blocked"
    hooks: list[str] = attrs.field(factory=list)
    error: str | None = None

    @property
    def origin(self) -> str:
        """Where the plugin came from, e.g. ``relscope 0.1.0`` or ``file:/path/x.py``."""
        if self.distribution:
            return f"{self.distribution} {self.version or ''}".strip()
        return self.module

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form used by ``relscope plugins --json``."""
        return {
            "name": self.name,
            "module": self.module,
            "distribution": self.distribution,
            "version": self.version,
            "hooks": list(self.hooks),
            "status": self.status,
            "error": self.error,
        }


def _env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() not in ("", "0", "false", "no", "off")


def _env_list(name: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, "").split(",") if item.strip()]


class RelscopePluginManager(pluggy.PluginManager):
    """A pluggy manager that remembers the status of every plugin it tried to load."""

    def __init__(self, strict: bool = False) -> None:
        super().__init__(PROJECT_NAME)
        self.add_hookspecs(hookspecs)
        self.strict = strict
        self.statuses: dict[str, PluginStatus] = {}
        self._registries: dict[str, Any] = {}
        self.tracing = False

    def status_of(self, name: str) -> PluginStatus | None:
        """The recorded status of plugin ``name`` (None when never seen)."""
        return self.statuses.get(name)

    def record_failure(self, name: str, error: str) -> None:
        """Mark plugin ``name`` failed with ``error``; fatal in strict mode."""
        status = self.statuses.get(name)
        message = f"plugin {name!r} failed: {error}"
        if status is not None:
            status.status = "failed"
            status.error = error
        else:
            self.statuses[name] = PluginStatus(name, name, None, None, "failed", error=error)
        if self.get_plugin(name) is not None:
            self.unregister(name=name)
        if self.strict:
            raise PluginError(message)
        print(f"relscope: warning: {message}", file=sys.stderr)

    def registry(self, kind: str) -> Any:
        """The registry of ``kind`` (rules, composites, ...), collected once from all plugins."""
        from relscope.core.registry import collect_registry

        if kind not in self._registries:
            self._registries[kind] = collect_registry(self, kind)
        return self._registries[kind]

    def load_module(
        self,
        name: str,
        loader: Any,
        module_name: str,
        distribution: str | None,
        version: str | None,
        blocked: Iterable[str],
    ) -> None:
        """Import one plugin through ``loader()`` and register it, recording success or failure."""
        if name in self.statuses:
            return
        status = PluginStatus(name, module_name, distribution, version, "loaded")
        self.statuses[name] = status
        if name in blocked or name.removeprefix("file:") in blocked or self.is_blocked(name):
            status.status = "blocked"
            self.set_blocked(name)
            return
        try:
            module = loader()
            self.register(module, name=name)
            self.check_pending()
        except Exception as exc:  # a broken plugin is reported, never fatal outside strict mode
            self.record_failure(name, f"{type(exc).__name__}: {exc}")
            return
        status.hooks = sorted(impl_name for impl_name in _hook_names(self, module))


def _hook_names(pm: pluggy.PluginManager, plugin: object) -> list[str]:
    return [caller.name for caller in pm.get_hookcallers(plugin) or []]


def _load_file(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"relscope_local_plugins.{path.stem}", path)
    if spec is None or spec.loader is None:
        raise PluginError(f"{path}: cannot be imported as a Python module")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def _distribution_identity(
    dist: Any, known: dict[str, tuple[str | None, str | None]]
) -> tuple[str | None, str | None]:
    """``(name, version)`` of an entry point's distribution, its metadata parsed once per
    distribution (parsing it for each of 50 entry points was a third of ``relscope list``)."""
    if dist is None:
        return None, None
    where = str(getattr(dist, "_path", id(dist)))
    if where not in known:
        metadata = dist.metadata
        known[where] = (metadata["Name"], metadata["Version"])
    return known[where]


def get_plugin_manager(
    *,
    strict: bool | None = None,
    disable: Iterable[str] | None = None,
    plugins_dir: str | os.PathLike[str] | None = None,
    trace: bool | None = None,
    hooks: Iterable[str] | None = None,
) -> RelscopePluginManager:
    """Build a fresh plugin manager; unset arguments are read from the ``RELSCOPE_*`` variables.

    ``hooks`` limits it to the installed plugins whose source may implement one of those hooks
    (the others are not imported at all; see :mod:`relscope.core.plugin_source`)."""
    from relscope.core.plugin_source import may_implement

    strict = _env_flag(STRICT_ENV) if strict is None else strict
    blocked = set(_env_list(DISABLE_ENV) if disable is None else disable)
    plugins_dir = os.environ.get(PLUGINS_DIR_ENV) or None if plugins_dir is None else plugins_dir
    trace = _env_flag(TRACE_ENV) if trace is None else trace

    pm = RelscopePluginManager(strict=strict)
    pm.tracing = trace
    if trace:
        pm.trace.root.setwriter(lambda message: sys.stderr.write(f"relscope-trace: {message}"))
        pm.enable_tracing()

    seen: set[tuple[str | None, str]] = set()
    identities: dict[str, tuple[str | None, str | None]] = {}
    entry_points = importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)
    for ep in sorted(entry_points, key=lambda e: (e.name, e.value)):
        dist_name, dist_version = _distribution_identity(getattr(ep, "dist", None), identities)
        key = (dist_name, ep.name)
        if key in seen:
            continue
        seen.add(key)
        if hooks is not None and not may_implement(ep.value, hooks):
            continue
        pm.load_module(ep.name, ep.load, ep.value, dist_name, dist_version, blocked)

    if plugins_dir:
        folder = Path(plugins_dir)
        if not folder.is_dir():
            pm.record_failure(str(folder), f"{PLUGINS_DIR_ENV}={folder} is not a directory")
        else:
            for path in sorted(folder.glob("*.py")):
                pm.load_module(
                    f"file:{path.stem}",
                    functools.partial(_load_file, path),
                    str(path),
                    None,
                    None,
                    blocked,
                )
    return pm


@functools.lru_cache(maxsize=1)
def default_plugin_manager() -> RelscopePluginManager:
    """The process-wide manager used by the Python API and the CLI (built on first use)."""
    return get_plugin_manager()


def reset_default_plugin_manager() -> None:
    """Forget the process-wide manager, e.g. after installing a plugin at run time."""
    default_plugin_manager.cache_clear()
