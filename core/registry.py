"""Registries: named objects that plugins contribute through ``register(...)`` callbacks.

Each entry keeps its provenance (plugin, distribution, version) so the CLI can say where it came
from, and a name claimed by two plugins is an error that names both.
"""

from __future__ import annotations

import inspect
import sys
from collections.abc import Iterator, Mapping
from typing import Any

import attrs

from relscope.core.errors import PluginConflictError, UnknownNameError

#: registry kind -> the collecting hook that fills it
REGISTRY_HOOKS: dict[str, str] = {
    "rules": "register_rules",
    "composites": "register_composites",
    "canonizers": "register_canonizers",
    "attributors": "register_attributors",
    "processors": "register_processors",
    "panels": "register_viewer_panels",
    "colormaps": "register_colormaps",
    "metrics": "register_metrics",
}


@attrs.frozen
class RegistryEntry:
    """One registered object and where it came from."""

    name: str
    obj: Any
    plugin: str
    distribution: str | None
    version: str | None
    description: str

    @property
    def origin(self) -> str:
        """``distribution version`` when installed from a package, else the plugin name."""
        if self.distribution:
            return f"{self.distribution} {self.version or ''}".strip()
        return self.plugin

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form used by ``relscope list ... --json``."""
        return {
            "name": self.name,
            "plugin": self.plugin,
            "distribution": self.distribution,
            "version": self.version,
            "description": self.description,
        }


def _first_line(text: str | None) -> str:
    lines = inspect.cleandoc(text or "").strip().splitlines()
    return lines[0].strip() if lines else ""


def describe(obj: Any) -> str:
    """A one-line description of ``obj``: its ``description`` attribute or its docstring's first line."""
    own = getattr(obj, "description", None)
    if isinstance(own, str) and own:
        return _first_line(own)
    if isinstance(obj, str):
        return obj
    doc = obj.__doc__ if (inspect.isclass(obj) or inspect.isfunction(obj)) else None
    return _first_line(doc)


class Registry(Mapping[str, RegistryEntry]):
    """A read-only, name-sorted mapping of registry entries of one kind."""

    def __init__(self, kind: str, entries: dict[str, RegistryEntry] | None = None) -> None:
        self.kind = kind
        self._entries: dict[str, RegistryEntry] = dict(entries or {})

    def __getitem__(self, name: str) -> RegistryEntry:
        return self.get_entry(name)

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._entries))

    def __len__(self) -> int:
        return len(self._entries)

    def get_entry(self, name: str) -> RegistryEntry:
        """The entry called ``name``; an unknown name raises an error that lists the known ones."""
        try:
            return self._entries[name]
        except KeyError:
            known = ", ".join(sorted(self._entries)) or "none registered"
            singular = self.kind[:-1] if self.kind.endswith("s") else self.kind
            raise UnknownNameError(f"unknown {singular} {name!r}; known: {known}") from None

    def get(self, name: str, default: Any = None) -> Any:  # type: ignore[override]
        """The object registered as ``name`` (not the entry), or ``default`` when missing."""
        entry = self._entries.get(name)
        return default if entry is None else entry.obj

    def lookup(self, name: str) -> Any:
        """The object registered as ``name``; raises :class:`UnknownNameError` when missing."""
        return self.get_entry(name).obj

    def add(self, entry: RegistryEntry, override: bool = False) -> None:
        """Add ``entry``; a taken name is a :class:`PluginConflictError` unless ``override``."""
        existing = self._entries.get(entry.name)
        if existing is not None and not override:
            raise PluginConflictError(
                f"{self.kind[:-1]} {entry.name!r} is registered by both plugin {existing.plugin!r} "
                f"({existing.origin}) and plugin {entry.plugin!r} ({entry.origin}); "
                "pass override=True in the later one to replace it"
            )
        self._entries[entry.name] = entry


def collect_registry(pm: Any, kind: str) -> Registry:
    """Call every plugin's collecting hook for ``kind`` with a provenance-recording ``register``."""
    try:
        hook_name = REGISTRY_HOOKS[kind]
    except KeyError:
        raise UnknownNameError(
            f"unknown registry {kind!r}; known: {', '.join(REGISTRY_HOOKS)}"
        ) from None
    registry = Registry(kind)
    caller = getattr(pm.hook, hook_name)
    for impl in caller.get_hookimpls():  # in registration order (entry points sorted by name)
        status = pm.status_of(impl.plugin_name)
        staged: list[tuple[RegistryEntry, bool]] = []

        def register(
            name: Any,
            obj: Any = None,
            *,
            description: str | None = None,
            override: bool = False,
            _plugin: str = impl.plugin_name,
            _status: Any = status,
            _staged: list[tuple[RegistryEntry, bool]] = staged,
        ) -> None:
            if obj is None:  # register(obj) form: the object carries its own name
                obj, name = name, getattr(name, "name", None)
            if not isinstance(name, str) or not name:
                raise TypeError(f"register() needs a non-empty name, got {name!r}")
            entry = RegistryEntry(
                name=name,
                obj=obj,
                plugin=_plugin,
                distribution=getattr(_status, "distribution", None),
                version=getattr(_status, "version", None),
                description=_first_line(description) if description else describe(obj),
            )
            _staged.append((entry, override))

        if getattr(pm, "tracing", False):  # RELSCOPE_TRACE_PLUGINS
            print(f"relscope-trace: {hook_name} -> {impl.plugin_name}", file=sys.stderr)
        try:
            impl.function(register=register)
            trial = Registry(kind, registry._entries)
            for entry, override in staged:  # check every name first: all of a plugin or none
                trial.add(entry, override=override)
            registry = trial
        except Exception as exc:
            pm.record_failure(impl.plugin_name, f"{hook_name}: {type(exc).__name__}: {exc}")
    return registry


def get_registry(kind: str, pm: Any = None) -> Registry:
    """The registry of ``kind`` from ``pm`` (default: the process-wide plugin manager)."""
    if pm is None:
        from relscope.core.plugin_manager import default_plugin_manager

        pm = default_plugin_manager()
    return pm.registry(kind)
