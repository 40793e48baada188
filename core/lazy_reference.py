"""A registered object named by its import path, imported only when it is fetched.

Plugin entry-point modules register their torch-based classes this way, declaring the description
and parameters that listings show, so ``relscope list`` and ``relscope plugins`` never import the
implementation (``docs/plugins.md``; a test checks every declaration against the real object).
"""

from __future__ import annotations

import importlib
from typing import Any

import attrs

from relscope.core.errors import PluginError
from relscope.core.parameters import Parameter


@attrs.frozen(eq=False)
class LazyReference:
    """``module:attribute`` plus the parameters the object accepts, loaded on first :meth:`load`."""

    path: str
    parameters: tuple[Parameter, ...] = ()
    _loaded: list[Any] = attrs.field(factory=list, init=False, repr=False)

    def __attrs_post_init__(self) -> None:
        module, _, attribute = self.path.partition(":")
        if not module or not attribute:
            raise TypeError(f"lazy reference {self.path!r} must read 'package.module:attribute'")

    def load(self) -> Any:
        """The object itself: its module is imported once, on the first call."""
        if not self._loaded:
            module_name, _, attribute = self.path.partition(":")
            try:
                module = importlib.import_module(module_name)
            except Exception as exc:
                raise PluginError(
                    f"cannot import {module_name} (for {self.path}): {type(exc).__name__}: {exc}"
                ) from exc
            target: Any = module
            try:
                for part in attribute.split("."):
                    target = getattr(target, part)
            except AttributeError:
                raise PluginError(f"{module_name} has no attribute {attribute!r}") from None
            self._loaded.append(target)
        return self._loaded[0]

    @property
    def is_loaded(self) -> bool:
        """Whether :meth:`load` has imported the object already."""
        return bool(self._loaded)

    def declared_parameters(self) -> dict[str, Parameter]:
        """The declared parameters by name, as :func:`~relscope.core.parameters.parameters_of`
        gives them for the real object."""
        return {parameter.name: parameter for parameter in self.parameters}


def lazy(path: str, *parameters: Parameter) -> LazyReference:
    """``register(name, lazy("pkg.module:Class", Parameter(...), ...), description=...)``."""
    return LazyReference(path, tuple(parameters))


def implementation_attribute(module_name: str, name: str) -> Any:
    """A light plugin module's ``__getattr__``: ``name`` from its implementation module, imported
    now, so ``from relscope.plugins.rules.lrp import Epsilon`` keeps working."""
    if name.startswith("__"):  # import machinery and pluggy probe dunders; never import for them
        raise AttributeError(name)
    return getattr(importlib.import_module(module_name), name)
