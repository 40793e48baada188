"""The rule base: while registered, a rule replaces its layer's backward pass by its own.

Mechanism: :meth:`Rule.register` swaps the layer's ``forward`` (an instance attribute, removed again
by the handle) for one that runs the layer inside a custom autograd function. Its forward computes
the ordinary output plus whatever the rule needs later (modified outputs, denominators); its
backward returns the rule's relevance directly. The ordinary layer gradient is never computed, no
hook is registered, and with gradients disabled (``torch.no_grad()``) or an input that needs no
gradient the layer runs unchanged.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from relscope.core.attribution.sum_layer import Sum
from relscope.core.errors import AttributionError

_MISSING = object()

#: the attribute marking a forward installed by relscope (to refuse double registration)
RULE_MARK = "_relscope_rule"


class RuleContext:
    """Per-call storage handed to :meth:`Rule.forward` and :meth:`Rule.backward`.

    It wraps the autograd function's context: ``save(*tensors)`` keeps tensors for the backward
    pass (version-checked: an in-place change of a saved tensor raises), ``saved`` returns them,
    and any other attribute (shapes, flags) can be set freely.
    """

    def __init__(self, ctx: Any) -> None:
        object.__setattr__(self, "_ctx", ctx)

    def save(self, *tensors: torch.Tensor | None) -> None:
        """Keep ``tensors`` for :meth:`Rule.backward` (call once)."""
        self._ctx.save_for_backward(*tensors)

    @property
    def saved(self) -> tuple[torch.Tensor, ...]:
        """The tensors given to :meth:`save`, in order."""
        return self._ctx.saved_tensors

    def __getattr__(self, name: str) -> Any:
        return getattr(self._ctx, name)

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self._ctx, name, value)


class _RuleFunction(torch.autograd.Function):
    """Runs a rule's forward and, on the way back, its relevance instead of the gradient."""

    @staticmethod
    def forward(ctx: Any, rule: Rule, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        ctx.rule = rule
        version = x._version
        output = rule.forward(RuleContext(ctx), x)
        if output is x and x._version != version:  # an in-place layer (see Rule.keeps_inplace)
            ctx.mark_dirty(x)
        return output

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx: Any, grad_output: torch.Tensor) -> tuple[None, torch.Tensor]:  # type: ignore[override]
        return None, ctx.rule.backward(RuleContext(ctx), grad_output)


def restore_forward(module: nn.Module, previous: Any) -> None:
    """Put back the instance ``forward`` that ``module`` had before (``_MISSING``: none, so the
    class's ``forward`` applies again)."""
    if previous is _MISSING:
        module.__dict__.pop("forward", None)
    else:
        module.__dict__["forward"] = previous


def stacked_summands(module: Sum, args: tuple) -> torch.Tensor | None:
    """``torch.stack(args, module.dim)`` when the summands are tensors of one shape and a
    gradient will flow to one of them (None otherwise: then they are just added)."""
    if not all(isinstance(a, torch.Tensor) for a in args) or not torch.is_grad_enabled():
        return None
    if len({a.shape for a in args}) != 1 or not any(a.requires_grad for a in args):
        return None
    return torch.stack(args, dim=module.dim)


class RuleHandle:
    """Undoes one rule registration: restores the layer's forward and frees the rule's caches."""

    def __init__(self, module: nn.Module, previous: Any, rule: Any) -> None:
        self.module = module
        self.previous = previous
        self.rule = rule
        self.restore_inplace = False

    def remove(self) -> None:
        """Restore the layer exactly as it was (idempotent)."""
        module, self.module = self.module, None
        if module is None:
            return
        restore_forward(module, self.previous)
        if self.restore_inplace:
            module.inplace = True
        release = getattr(self.rule, "release", None)
        if release is not None:
            release()


def install_forward(
    module: nn.Module, make_forward: Callable[[Callable], Callable], owner: Any
) -> RuleHandle:
    """Replace ``module.forward`` by ``make_forward(original_forward)``; return the undo handle."""
    if isinstance(module, torch.jit.ScriptModule):
        raise AttributionError(
            f"rules cannot be attached to TorchScript module {type(module).__name__}; "
            "load the model as a Python nn.Module"
        )
    current = module.__dict__.get("forward", _MISSING)
    if current is not _MISSING and getattr(current, RULE_MARK, None) is not None:
        raise AttributionError(
            f"layer {type(module).__name__} already has a rule; leave the other composite's "
            "context first"
        )
    original = module.forward
    forward = make_forward(original)
    setattr(forward, RULE_MARK, owner)
    module.__dict__["forward"] = forward
    handle = RuleHandle(module, current, owner)
    if getattr(module, "inplace", None) is True and not getattr(owner, "keeps_inplace", False):
        module.inplace = False  # the rule needs the layer's input after the layer ran
        handle.restore_inplace = True
    return handle


class Rule:
    """Base of all rules. A rule object is a template: composites :meth:`copy` it per layer.

    Subclasses implement :meth:`forward` (ordinary output, saving what the backward needs) and
    :meth:`backward` (relevance at the input from the relevance at the output), and may check in
    :meth:`setup` that the layer is of a kind they handle.
    """

    #: registry name (set by subclasses)
    name: str = ""

    module: nn.Module | None = None
    original_forward: Callable[..., Any] | None = None
    #: True when the rule needs nothing of the input after the layer ran, so a layer that works
    #: in place (``ReLU(inplace=True)``) may keep doing so; otherwise it runs out of place
    keeps_inplace: bool = False

    def copy(self) -> Rule:
        """A fresh copy for one layer (settings shared, caches not)."""
        clone = copy.copy(self)
        clone.module = None
        clone.original_forward = None
        clone.reset()
        return clone

    def reset(self) -> None:
        """Forget per-layer caches (called on copies and when the rule is removed)."""

    def release(self) -> None:
        """Called when the rule is removed from its layer."""
        self.reset()
        self.module = None
        self.original_forward = None

    def setup(self, module: nn.Module) -> None:
        """Check ``module`` and prepare per-layer state; raise a clear error if it does not fit."""

    def attach(self, module: nn.Module, original: Callable[..., Any]) -> None:
        """Bind this (per-layer) rule to ``module`` whose unmodified forward is ``original``."""
        self.module = module
        self.original_forward = original

    def register(self, module: nn.Module) -> RuleHandle:
        """Attach this rule (a per-layer copy) to ``module``; the handle's ``remove`` detaches it."""
        self.setup(module)
        rule = self

        def make_forward(original: Callable[..., Any]) -> Callable[..., Any]:
            rule.attach(module, original)

            def forward(*args: Any, **kwargs: Any) -> Any:
                return rule.dispatch(original, args, kwargs)

            return forward

        return install_forward(module, make_forward, self)

    def dispatch(self, original: Callable[..., Any], args: tuple, kwargs: dict) -> Any:
        """Run the layer: through the rule when a gradient will flow to its input, else as is.

        Summands given to a :class:`Sum` one by one are stacked first (what ``Sum`` means), so a
        rule sees the one stacked input it would otherwise get.
        """
        if len(args) > 1 and not kwargs and isinstance(self.module, Sum):
            stacked = stacked_summands(self.module, args)
            if stacked is not None:
                args = (stacked,)
        if (
            len(args) == 1
            and not kwargs
            and isinstance(args[0], torch.Tensor)
            and torch.is_grad_enabled()
            and args[0].requires_grad
        ):
            return _RuleFunction.apply(self, args[0])
        return original(*args, **kwargs)

    def call_original(self, x: torch.Tensor) -> torch.Tensor:
        """The layer's ordinary output for ``x`` (without this rule)."""
        assert self.original_forward is not None
        return self.original_forward(x)

    def forward(self, ctx: RuleContext, x: torch.Tensor) -> torch.Tensor:
        """The layer's output; save in ``ctx`` what :meth:`backward` needs (no autograd here)."""
        raise NotImplementedError

    def backward(self, ctx: RuleContext, relevance: torch.Tensor) -> torch.Tensor:
        """The relevance at the layer input for ``relevance`` at its output."""
        raise NotImplementedError

    def describe(self) -> str:
        """Short text for listings, e.g. ``epsilon(epsilon=1e-06)``."""
        return self.name or type(self).__name__

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"
