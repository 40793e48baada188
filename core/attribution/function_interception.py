"""Interception of torch functions inside one model's forward (a ``TorchFunctionMode``).

Rules for operations that are not modules (``F.scaled_dot_product_attention``, ``q @ k.T``,
``torch.softmax``, ``x * torch.rsqrt(...)``) cannot be attached to a layer. Instead the model's own
``forward`` (an instance attribute, removed again by the handle) runs inside a
:class:`FunctionInterceptor`: every torch function or tensor method called during that forward is
offered to a table of handlers, which may return a result with a modified backward pass. Nothing is
patched globally: the mode is active only while this model's forward runs, so a second model in the
same process (or this one outside the context) is untouched.

While the forward runs, the model's parameters are marked ``requires_grad=False`` (restored after),
so that "depends on the input" is exactly ``tensor.requires_grad``: handlers tell signals (the
attributed input and what is computed from it) from weights and constants that way.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

import torch
from torch import nn
from torch.overrides import TorchFunctionMode

from relscope.core.attribution.rule import _MISSING, restore_forward
from relscope.core.errors import AttributionError

#: a handler gets (func, args, kwargs, interceptor) and returns the result, or NotImplemented to
#: let the function run unchanged
Handler = Callable[[Callable[..., Any], tuple, dict, "FunctionInterceptor"], Any]

#: the attribute marking a forward installed by an interception (for messages and inspection)
INTERCEPTION_MARK = "_relscope_interception"


def is_signal(value: Any) -> bool:
    """True for a tensor that depends on the attributed input (inside an intercepted forward)."""
    return isinstance(value, torch.Tensor) and value.requires_grad


class FunctionInterceptor(TorchFunctionMode):
    """Offers every torch function called while active to ``handlers`` (keyed by the function).

    Handlers only run when gradients are enabled; ``counts`` records how often each handler
    kind changed a call (``relscope inspect`` and the unrecognised-attention check read it).
    """

    def __init__(self, handlers: dict[Any, tuple[str, Handler]]) -> None:
        super().__init__()
        self.handlers = handlers
        self.counts: Counter[str] = Counter()

    def __torch_function__(
        self, func: Callable[..., Any], types: Any, args: tuple = (), kwargs: dict | None = None
    ) -> Any:
        entry = self.handlers.get(func)
        if entry is None or not torch.is_grad_enabled():  # most calls: no rule, no extra work
            return func(*args) if kwargs is None else func(*args, **kwargs)
        kwargs = kwargs or {}
        kind, handler = entry
        result = handler(func, args, kwargs, self)
        if result is NotImplemented:
            return func(*args, **kwargs)
        self.counts[kind] += 1
        return result


class InterceptionHandle:
    """Undoes :func:`intercept_forward`: restores the model's forward exactly."""

    def __init__(self, module: nn.Module, previous: Any, interceptor_factory: Any) -> None:
        self.module: nn.Module | None = module
        self.previous = previous
        self.make_interceptor = interceptor_factory
        #: the interceptor of the most recent forward (its ``counts``)
        self.last: FunctionInterceptor | None = None

    def remove(self) -> None:
        """Restore the model's forward (idempotent)."""
        module, self.module = self.module, None
        if module is None:
            return
        restore_forward(module, self.previous)


def intercept_forward(
    model: nn.Module,
    make_interceptor: Callable[[], FunctionInterceptor],
    after: Callable[[FunctionInterceptor], None] | None = None,
) -> InterceptionHandle:
    """Run ``model``'s forward inside a fresh interceptor per call; returns the undo handle.

    ``after(interceptor)`` runs after each intercepted forward (e.g. to refuse a model none of
    whose attention was recognised). Works on top of a rule already attached to ``model`` itself.
    """
    if isinstance(model, torch.jit.ScriptModule):
        raise AttributionError("function rules need a Python nn.Module, not a TorchScript model")
    previous = model.__dict__.get("forward", _MISSING)
    inner = model.forward
    handle = InterceptionHandle(model, previous, make_interceptor)

    parameters = list(model.parameters())  # fixed while intercepted; not walked per forward

    def forward(*args: Any, **kwargs: Any) -> Any:
        if not torch.is_grad_enabled():
            return inner(*args, **kwargs)
        interceptor = make_interceptor()
        handle.last = interceptor
        frozen = [p for p in parameters if p.requires_grad]
        for parameter in frozen:
            parameter.requires_grad_(False)
        try:
            with interceptor:
                output = inner(*args, **kwargs)
        finally:
            for parameter in frozen:
                parameter.requires_grad_(True)
        if after is not None:
            after(interceptor)
        return output

    setattr(forward, INTERCEPTION_MARK, handle)
    model.__dict__["forward"] = forward
    return handle
