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

from relscope.core.errors import (
    ParameterError,
    PluginConflictError,
    PluginError,
    ProcessorError,
    RuleConfigurationError,
    UnknownNameError,
)
from relscope.core.lazy_reference import LazyReference
from relscope.core.parameters import Parameter, parameters_of

#: the error a kind's :meth:`Registry.create` raises for a parameter it does not accept
PARAMETER_ERRORS: dict[str, type[Exception]] = {
    "rules": RuleConfigurationError,
    "composites": RuleConfigurationError,
    "canonizers": RuleConfigurationError,
    "attributors": RuleConfigurationError,
    "processors": ProcessorError,
}

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
    "datasets": "register_datasets",
}


@attrs.frozen
class RegistryEntry:
    """One registered object and where it came from.

    ``target`` is what the plugin registered: the object, or a :class:`LazyReference` that
    :attr:`obj` imports on first use; listings read only the name, description and parameters.
    """

    name: str
    target: Any = attrs.field(alias="obj")
    plugin: str
    distribution: str | None
    version: str | None
    description: str

    @property
    def is_lazy(self) -> bool:
        """Whether the object is named by import path (and maybe not imported yet)."""
        return isinstance(self.target, LazyReference)

    @property
    def obj(self) -> Any:
        """The registered object (a lazy one is imported now, once)."""
        if not isinstance(self.target, LazyReference):
            return self.target
        try:
            return self.target.load()
        except PluginError as exc:
            raise PluginError(f"{self.name!r} of plugin {self.plugin!r}: {exc}") from exc

    @property
    def parameters(self) -> dict[str, Parameter]:
        """The accepted parameters: declared ones for a lazy entry, else read from the object."""
        if isinstance(self.target, LazyReference):
            return self.target.declared_parameters()
        return parameters_of(self.target)

    @property
    def origin(self) -> str:
        """``distribution version`` when installed from a package, else the plugin name."""
        if self.distribution:
            return f"{self.distribution} {self.version or ''}".strip()
        return self.plugin

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form used by ``relscope list ... --json`` (with the accepted parameters)."""
        return {
            "name": self.name,
            "plugin": self.plugin,
            "distribution": self.distribution,
            "version": self.version,
            "description": self.description,
            "parameters": [p.as_dict() for p in self.parameters.values()],
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


class Registry(Mapping[str, Any]):
    """A read-only, name-sorted mapping of one kind's registered objects.

    ``registry[name]`` and ``registry.get(name)`` give the object, :meth:`entry` its provenance,
    and :meth:`create` is the one way to turn a name, class or instance into a configured object.
    """

    def __init__(self, kind: str, entries: dict[str, RegistryEntry] | None = None) -> None:
        self.kind = kind
        self._entries: dict[str, RegistryEntry] = dict(entries or {})

    @property
    def singular(self) -> str:
        """The kind in the singular, for messages (``composite``)."""
        return self.kind[:-1] if self.kind.endswith("s") else self.kind

    def __getitem__(self, name: str) -> Any:
        return self.entry(name).obj

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._entries))

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, name: str, default: Any = None) -> Any:  # type: ignore[override]
        """The object registered as ``name``, or ``default`` when missing."""
        entry = self._entries.get(name)
        return default if entry is None else entry.obj

    def lookup(self, name: str) -> Any:
        """``registry[name]``: the object; an unknown name lists the known ones."""
        return self[name]

    def entry(self, name: str) -> RegistryEntry:
        """The entry called ``name`` (object and provenance); unknown names list the known ones."""
        try:
            return self._entries[name]
        except KeyError:
            known = ", ".join(sorted(self._entries)) or "none registered"
            raise UnknownNameError(f"unknown {self.singular} {name!r}; known: {known}") from None

    get_entry = entry

    def entries(self) -> list[RegistryEntry]:
        """Every entry, sorted by name."""
        return [self._entries[name] for name in self]

    def parameters(self, name_or_obj: Any) -> dict[str, Parameter]:
        """The parameters ``create`` accepts for a name or class (none for an instance)."""
        if isinstance(name_or_obj, str):
            return self.entry(name_or_obj).parameters
        return parameters_of(name_or_obj)

    def create(self, name_or_obj: Any, **params: Any) -> Any:
        """A configured object from a registered name, a class/factory, or an instance.

        Parameters are bound against the factory's signature first, so a wrong one is an error
        that names the accepted ones; an instance is returned as it is (it takes no parameters,
        unless it offers ``with_params(**params)``).
        """
        error = PARAMETER_ERRORS.get(self.kind, ParameterError)
        label = name_or_obj if isinstance(name_or_obj, str) else _label(name_or_obj)
        obj = self[name_or_obj] if isinstance(name_or_obj, str) else name_or_obj
        if not callable(obj) or not (inspect.isclass(obj) or inspect.isroutine(obj)):
            if not params:
                return obj
            with_params = getattr(obj, "with_params", None)
            if with_params is None:
                raise error(f"{self.singular} {label!r} is an instance and takes no parameters")
            return with_params(**params)
        accepted = parameters_of(obj)
        try:
            inspect.signature(obj).bind(**params)
        except TypeError as exc:
            names = ", ".join(accepted) or "no parameters"
            raise error(f"{self.singular} {label!r}: {exc}; it accepts: {names}") from None
        except ValueError:  # no signature to bind against: let the call decide
            pass
        return obj(**params)

    def add(self, entry: RegistryEntry, override: bool = False) -> None:
        """Add ``entry``; a taken name is a :class:`PluginConflictError` unless ``override``."""
        existing = self._entries.get(entry.name)
        if existing is not None and not override:
            raise PluginConflictError(
                f"{self.singular} {entry.name!r} is registered by both plugin {existing.plugin!r} "
                f"({existing.origin}) and plugin {entry.plugin!r} ({entry.origin}); "
                "pass override=True in the later one to replace it"
            )
        self._entries[entry.name] = entry


def _label(obj: Any) -> str:
    return getattr(obj, "name", None) or getattr(obj, "__name__", None) or type(obj).__name__


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
            if isinstance(obj, LazyReference) and not description:
                raise TypeError(f"register({name!r}, lazy(...)) needs a description=")
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
