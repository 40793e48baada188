"""Symbolic traces of a model's forward (torch.fx), to learn which layer feeds which without inputs.

Canonizers need the order in which layers *run*, not the order in which they are defined. A trace
records that order as a graph of calls. Modules whose forward cannot be traced (data-dependent
control flow) are kept as opaque calls instead of failing the whole trace; their names are listed
in :attr:`ModelGraph.opaque`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch.fx as fx
from torch import nn

from relscope.core.errors import CanonizerError

_STORES = ("_parameters", "_buffers", "_modules")

#: decides whether a submodule call stays one node (True) or is traced through (False)
LeafPredicate = Callable[[nn.Module, str], bool]


def is_torch_module(module: nn.Module) -> bool:
    """True for modules whose ``forward`` is implemented by torch itself (layers, containers)."""
    forward = getattr(type(module), "forward", None)
    owner = getattr(forward, "__module__", "") or ""
    return owner.startswith("torch.")


def is_explicit_module(module: nn.Module) -> bool:
    """True for torch's own modules and relscope's explicit layers (``Sum``, ...): nothing hides
    inside their forward that a canonizer would have to make explicit."""
    forward = getattr(type(module), "forward", None)
    owner = getattr(forward, "__module__", "") or ""
    return owner.startswith(
        ("torch.", "relscope.core.attribution.", "relscope.plugins.canonizers.")
    )


def torch_layer_is_leaf(module: nn.Module, qualified_name: str) -> bool:
    """Default deep-trace leaves: torch's own layers; containers and user modules are traced into."""
    return is_torch_module(module) and not isinstance(
        module, (nn.Sequential, nn.ModuleList, nn.ModuleDict)
    )


class _FallbackTracer(fx.Tracer):
    """A tracer that turns submodules it cannot trace into opaque leaf calls."""

    def __init__(self, is_leaf: LeafPredicate) -> None:
        super().__init__()
        self._is_leaf = is_leaf
        self.opaque: dict[str, str] = {}

    def is_leaf_module(self, m: nn.Module, module_qualified_name: str) -> bool:
        return module_qualified_name in self.opaque or self._is_leaf(m, module_qualified_name)

    def call_module(
        self,
        m: nn.Module,
        forward: Callable[..., Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> Any:
        name = self.path_of_module(m)
        if self.is_leaf_module(m, name):
            return super().call_module(m, forward, args, kwargs)
        stack = list(self.module_stack.items())
        calls = dict(self.num_calls)
        try:
            return super().call_module(m, forward, args, kwargs)
        except Exception as exc:  # untraceable forward: keep the call, opaque
            self.module_stack.clear()
            self.module_stack.update(stack)
            self.num_calls.clear()
            self.num_calls.update(calls)
            self.opaque[name] = f"{type(exc).__name__}: {exc}".splitlines()[0]
            return super().call_module(m, forward, args, kwargs)


class ModelGraph:
    """The fx graph of one module's forward, with the modules its ``call_module`` nodes name."""

    def __init__(
        self,
        root: nn.Module,
        graph: fx.Graph,
        opaque: dict[str, str],
        constants: dict[str, Any] | None = None,
    ) -> None:
        self.root = root
        self.graph = graph
        #: qualified name -> why that module's forward could not be traced
        self.opaque = opaque
        #: values the trace captured as constants (``get_attr`` targets not on ``root``)
        self.constants = constants or {}

    def module(self, node: fx.Node) -> nn.Module:
        """The module a ``call_module`` node calls."""
        return self.root.get_submodule(str(node.target))

    def module_calls(self) -> dict[str, list[fx.Node]]:
        """Qualified module name -> its call nodes, in run order."""
        calls: dict[str, list[fx.Node]] = {}
        for node in self.graph.nodes:
            if node.op == "call_module":
                calls.setdefault(str(node.target), []).append(node)
        return calls


def trace_model(
    root: nn.Module, is_leaf: LeafPredicate = torch_layer_is_leaf, context: str = "model"
) -> ModelGraph:
    """Trace ``root.forward`` into a graph whose leaves are chosen by ``is_leaf``.

    Submodules whose forward cannot be traced become opaque leaves; if ``root``'s own forward
    cannot be traced a :class:`CanonizerError` names it (``context`` says who asked).
    """
    tracer = _FallbackTracer(is_leaf)
    before = {store: dict(root.__dict__[store]) for store in _STORES}
    attributes = set(root.__dict__)
    try:
        graph = tracer.trace(root)
    except Exception as exc:
        reason = f"{type(exc).__name__}: {exc}".splitlines()[0]
        raise CanonizerError(
            f"{context}: cannot trace the forward of {type(root).__name__} with torch.fx "
            f"({reason}); not supported yet"
        ) from exc
    finally:  # fx stores captured constants on the root: take them off again
        constants = {k: root.__dict__.pop(k) for k in set(root.__dict__) - attributes}
        for store in _STORES:
            added = root.__dict__[store].keys() - before[store].keys()
            constants.update({k: root.__dict__[store].pop(k) for k in added})
    return ModelGraph(root, graph, tracer.opaque, constants)


def shallow_trace(module: nn.Module, context: str = "model") -> ModelGraph:
    """Trace only ``module``'s own forward: every submodule call stays one node."""
    return trace_model(module, is_leaf=lambda m, name: True, context=context)
