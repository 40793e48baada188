"""Graph canonizer: turn functional operations in ``forward`` methods into modules (torch.fx).

Rules attach to modules, so an addition written ``x + y`` or a ``F.relu`` call in a forward method
is invisible to them: the addition would copy the relevance to both summands (doubling it) and a
functional average pooling would keep its gradient instead of the ``norm`` rule. This canonizer
traces each user-written module's own forward (its submodules stay single calls), replaces

- tensor additions (``x + y``, ``x += y``, ``torch.add``) by an explicit ``Sum`` of the broadcast
  summands, given one by one (composites give it the ``norm`` rule; other rules see them stacked
  on the last axis),
- ``torch.cat`` by a :class:`Concatenate` module,
- functional activations (``F.relu``, ``torch.sigmoid``, ``x.relu()``, ...) by their modules,
- ``torch.flatten`` / ``x.flatten`` by ``nn.Flatten``,
- functional pooling (``F.avg_pool2d``, ``F.adaptive_avg_pool2d``, max pooling) by the modules,

and installs the rewritten forward on that module instance until :meth:`remove`. Additions whose
operands turn out not to be floating-point tensors at run time (shape arithmetic) stay plain ``+``.
As in any fx trace, Python branching on argument types or flags is fixed when the canonizer is
registered (so register it on the model in the mode you attribute it in, usually eval).
"""

from __future__ import annotations

import operator
import types
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.fx as fx
import torch.nn.functional as F
from torch import nn

from relscope.core.attribution.canonizer import Canonizer
from relscope.core.attribution.model_graph import is_explicit_module, shallow_trace
from relscope.core.attribution.sum_layer import Sum
from relscope.core.errors import CanonizerError


class Concatenate(nn.Module):
    """``torch.cat`` as a module: concatenates a sequence of tensors along ``dim``."""

    def __init__(self, dim: int = 0) -> None:
        super().__init__()
        self.dim = dim

    def forward(self, tensors: Sequence[torch.Tensor]) -> torch.Tensor:
        """Concatenate ``tensors`` along :attr:`dim`."""
        return torch.cat(tuple(tensors), dim=self.dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


@torch.fx.wrap
def explicit_sum(summer: nn.Module, a: Any, b: Any) -> Any:
    """``a + b`` through the ``Sum`` module ``summer`` when both are floating-point tensors."""
    if (
        isinstance(a, torch.Tensor)
        and isinstance(b, torch.Tensor)
        and a.is_floating_point()
        and b.is_floating_point()
    ):
        dtype = torch.result_type(a, b)
        a, b = torch.broadcast_tensors(a.to(dtype), b.to(dtype))
        return summer(a, b)  # the summands one by one: no stacked copy (see Sum)
    return a + b


@dataclass(frozen=True)
class Conversion:
    """How one functional operation becomes a module.

    ``functions`` are ``call_function`` targets, ``methods`` tensor method names; ``params`` are the
    operation's arguments after the input, with defaults; ``make(**params)`` builds the module.
    ``inplace`` forces ``inplace=True`` (for ``relu_`` and friends).
    """

    kind: str
    functions: tuple[Callable[..., Any], ...]
    methods: tuple[str, ...]
    params: tuple[tuple[str, Any], ...]
    make: Callable[..., nn.Module]
    inplace_functions: tuple[Callable[..., Any], ...] = ()
    inplace_methods: tuple[str, ...] = ()


def _activation(
    kind: str, fn_names: Sequence[str], layer: type[nn.Module], **params: Any
) -> Conversion:
    functions = []
    inplace = []
    for name in fn_names:
        for namespace in (F, torch):
            fn = getattr(namespace, name, None)
            if fn is not None and fn not in functions:
                functions.append(fn)
            fn_ = getattr(namespace, name + "_", None)
            if fn_ is not None and fn_ not in inplace:
                inplace.append(fn_)
    has_inplace = "inplace" in params
    if not has_inplace:  # an in-place call cannot become a module without an inplace flag
        inplace = []
    return Conversion(
        kind=kind,
        functions=tuple(functions + inplace),
        methods=(*fn_names, *(f"{n}_" for n in fn_names if has_inplace)),
        params=tuple(params.items()),
        make=layer,
        inplace_functions=tuple(inplace) if has_inplace else (),
        inplace_methods=tuple(f"{n}_" for n in fn_names) if has_inplace else (),
    )


def _pool(kind: str, dims: int, params: tuple[tuple[str, Any], ...], layer: str) -> Conversion:
    return Conversion(
        kind=kind,
        functions=(getattr(F, f"{kind}{dims}d"),),
        methods=(),
        params=params,
        make=getattr(nn, f"{layer}{dims}d"),
    )


_AVG = (
    ("kernel_size", None),
    ("stride", None),
    ("padding", 0),
    ("ceil_mode", False),
    ("count_include_pad", True),
)
_MAX = (
    ("kernel_size", None),
    ("stride", None),
    ("padding", 0),
    ("dilation", 1),
    ("ceil_mode", False),
    ("return_indices", False),
)

#: conversion name -> conversions of that group (names accepted by ``GraphCanonizer(convert=...)``)
CONVERSIONS: dict[str, tuple[Conversion, ...]] = {
    "add": (),  # handled specially: needs two tensor operands
    "cat": (
        Conversion(
            "cat",
            (torch.cat, torch.concat, torch.concatenate),
            (),
            (("dim", 0),),
            lambda dim: Concatenate(dim),
        ),
    ),
    "activation": (
        _activation("relu", ["relu"], nn.ReLU, inplace=False),
        _activation("relu6", ["relu6"], nn.ReLU6, inplace=False),
        _activation("leaky_relu", ["leaky_relu"], nn.LeakyReLU, negative_slope=0.01, inplace=False),
        _activation("elu", ["elu"], nn.ELU, alpha=1.0, inplace=False),
        _activation("gelu", ["gelu"], nn.GELU, approximate="none"),
        _activation("silu", ["silu"], nn.SiLU, inplace=False),
        _activation("hardswish", ["hardswish"], nn.Hardswish, inplace=False),
        _activation("hardsigmoid", ["hardsigmoid"], nn.Hardsigmoid, inplace=False),
        _activation("sigmoid", ["sigmoid"], nn.Sigmoid),
        _activation("tanh", ["tanh"], nn.Tanh),
    ),
    "flatten": (
        Conversion(
            "flatten",
            (torch.flatten,),
            ("flatten",),
            (("start_dim", 0), ("end_dim", -1)),
            lambda start_dim, end_dim: nn.Flatten(start_dim, end_dim),
        ),
    ),
    "pool": (
        _pool("avg_pool", 1, _AVG, "AvgPool"),
        _pool("avg_pool", 2, (*_AVG, ("divisor_override", None)), "AvgPool"),
        _pool("avg_pool", 3, (*_AVG, ("divisor_override", None)), "AvgPool"),
        *(
            _pool("adaptive_avg_pool", d, (("output_size", None),), "AdaptiveAvgPool")
            for d in (1, 2, 3)
        ),
        *(_pool("max_pool", d, _MAX, "MaxPool") for d in (1, 2, 3)),
        *(
            _pool(
                "adaptive_max_pool",
                d,
                (("output_size", None), ("return_indices", False)),
                "AdaptiveMaxPool",
            )
            for d in (1, 2, 3)
        ),
    ),
}

_ADD_FUNCTIONS = (operator.add, operator.iadd, torch.add)
_ADD_METHODS = ("add", "add_")


def _is_constant(value: Any) -> bool:
    """True when ``value`` holds no graph node (so it can become a module argument)."""
    if isinstance(value, fx.Node):
        return False
    if isinstance(value, (list, tuple)):
        return all(_is_constant(item) for item in value)
    return True


class GraphCanonizer(Canonizer):
    """Make functional operations in ``forward`` methods explicit modules so rules attach to them.

    ``convert`` picks the groups of :data:`CONVERSIONS` to apply (default: all); ``skip`` is a tuple
    of module types whose forward is left alone. Modules whose forward is torch's own, or whose
    instance ``forward`` another canonizer already replaced, are left alone too. A forward that
    cannot be traced raises a :class:`CanonizerError` naming the module.
    """

    name = "graph"

    def __init__(
        self, convert: Sequence[str] | None = None, skip: tuple[type[nn.Module], ...] = ()
    ) -> None:
        super().__init__()
        groups = list(CONVERSIONS) if convert is None else list(convert)
        unknown = [g for g in groups if g not in CONVERSIONS]
        if unknown:
            raise CanonizerError(
                f"graph canonizer: unknown conversion {unknown[0]!r}; known: {', '.join(CONVERSIONS)}"
            )
        self.convert = tuple(groups)
        self.skip = tuple(skip)
        self._by_function: dict[Any, Conversion] = {}
        self._by_method: dict[str, Conversion] = {}
        for group in self.convert:
            for conversion in CONVERSIONS[group]:
                self._by_function.update(dict.fromkeys(conversion.functions, conversion))
                self._by_method.update(dict.fromkeys(conversion.methods, conversion))
        #: qualified names of the modules whose forward was rewritten, with what was converted
        self.rewritten: dict[str, list[str]] = {}

    def copy(self) -> GraphCanonizer:
        """A fresh, unregistered instance with the same settings."""
        return type(self)(self.convert, self.skip)

    def register(self, model: nn.Module) -> None:
        """Rewrite the forward of every module that holds a functional operation to convert."""
        self.rewritten = {}
        try:
            for name, module in list(model.named_modules()):
                if (
                    is_explicit_module(module)
                    or "forward" in module.__dict__
                    or isinstance(module, self.skip)
                ):
                    continue
                self._rewrite(name, module)
        except BaseException:
            self.remove()
            raise

    # -- rewriting one module ---------------------------------------------------------------------
    def _rewrite(self, name: str, module: nn.Module) -> None:
        where = name or type(module).__name__
        traced = shallow_trace(module, context=f"{self.name} canonizer: {where}")
        graph = traced.graph
        converted: list[str] = []
        for node in list(graph.nodes):
            if node.op == "get_attr" and node.target in traced.constants:
                continue
            if self._is_add(node):
                a, b = self._operands(node)
                attr = self._add_module(module, "sum", Sum())
                with graph.inserting_before(node):
                    getter = graph.get_attr(attr)
                    replacement = graph.call_function(explicit_sum, (getter, a, b))
                converted.append("add")
            else:
                conversion = self._conversion(node)
                if conversion is None:
                    continue
                made = self._build(conversion, node)
                if made is None:
                    continue
                layer, source = made
                attr = self._add_module(module, conversion.kind, layer)
                with graph.inserting_before(node):
                    replacement = graph.call_module(attr, (source,))
                converted.append(conversion.kind)
            replacement.meta = dict(node.meta)
            node.replace_all_uses_with(replacement)
            graph.erase_node(node)
        if not converted:
            return
        for constant, value in traced.constants.items():  # fx-captured constants must exist
            self.set_attribute(module, constant, value)
        graph.lint()
        code_holder = fx.GraphModule(module, graph, class_name=f"Canonized{type(module).__name__}")
        forward = types.MethodType(type(code_holder).forward, module)
        self.set_attribute(module, "forward", forward)
        self.rewritten[where] = converted

    def _add_module(self, module: nn.Module, kind: str, layer: nn.Module) -> str:
        index = 0
        attr = kind
        while hasattr(module, attr):
            index += 1
            attr = f"{kind}_{index}"
        self.set_attribute(module, attr, layer)
        return attr

    def _is_add(self, node: fx.Node) -> bool:
        if "add" not in self.convert:
            return False
        is_add = (node.op == "call_function" and node.target in _ADD_FUNCTIONS) or (
            node.op == "call_method" and node.target in _ADD_METHODS
        )
        if not is_add or "alpha" in node.kwargs or len(node.args) != 2:
            return False
        a, b = self._operands(node)
        return isinstance(a, fx.Node) and isinstance(b, fx.Node)

    @staticmethod
    def _operands(node: fx.Node) -> tuple[Any, Any]:
        return node.args[0], node.args[1]

    def _conversion(self, node: fx.Node) -> Conversion | None:
        if node.op == "call_function":
            try:
                return self._by_function.get(node.target)
            except TypeError:  # unhashable target
                return None
        if node.op == "call_method":
            return self._by_method.get(str(node.target))
        return None

    @staticmethod
    def _build(conversion: Conversion, node: fx.Node) -> tuple[nn.Module, Any] | None:
        """The module replacing ``node`` and the node's input, or None when it cannot be built."""
        args = list(node.args)
        kwargs = dict(node.kwargs)
        source = args.pop(0) if args else kwargs.pop("input", kwargs.pop("tensors", None))
        names = [name for name, _ in conversion.params]
        if len(args) > len(names) or set(kwargs) - set(names):
            return None
        values = dict(conversion.params)
        values.update(zip(names, args, strict=False))
        values.update(kwargs)
        inplace = (node.op == "call_function" and node.target in conversion.inplace_functions) or (
            node.op == "call_method" and node.target in conversion.inplace_methods
        )
        if inplace:
            values["inplace"] = True
        if source is None or not _is_constant(list(values.values())):
            return None
        if any(
            value is None
            for name, value in values.items()
            if name in ("kernel_size", "output_size")
        ):
            return None
        try:
            return conversion.make(**values), source
        except (TypeError, ValueError):
            return None
