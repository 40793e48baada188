"""relscope's public API: the plugin markers, the registries and the engines' front doors.

Heavy engines (torch, scipy) are imported on first use of their names, so ``relscope --help`` and
plugin listing stay fast.
"""

from __future__ import annotations

import importlib
import importlib.metadata
from typing import Any

from relscope.core.errors import RelscopeError
from relscope.core.hookspecs import hookimpl, hookspec
from relscope.core.lazy_reference import LazyReference, lazy
from relscope.core.parameters import Parameter
from relscope.core.plugin_manager import get_plugin_manager
from relscope.core.registry import get_registry

try:
    __version__ = importlib.metadata.version("relscope")
except importlib.metadata.PackageNotFoundError:  # pragma: no cover - only in a broken install
    __version__ = "0+unknown"

#: public name -> module that defines it (imported lazily)
_LAZY: dict[str, str] = {
    "attribute": "relscope.core.attribution",
    "concept_relevance": "relscope.core.attribution",
    "get_composite": "relscope.core.attribution",
    "get_attributor": "relscope.core.attribution",
}

__all__ = [
    "LazyReference",
    "Parameter",
    "RelscopeError",
    "__version__",
    "get_plugin_manager",
    "get_registry",
    "hookimpl",
    "hookspec",
    "lazy",
    *_LAZY,
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'relscope.core' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
