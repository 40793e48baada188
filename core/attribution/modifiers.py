"""Building blocks of rules for linear layers: input modifiers and parameter modifiers.

An input modifier maps the layer input ``x`` to one input term (``x⁺``, ``x⁻``, ones, a bound);
it may return None for a term that is identically zero, so its passes are skipped. A parameter
modifier maps ``(param, name)`` to a modified parameter (``name`` is ``"weight"`` or ``"bias"``);
one that also has ``write(param, name, out)`` can write its result into a slice of a rule's block
weight instead (no weight-sized temporary, no copy into the block), with the same values.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from relscope.core.attribution.linear_ops import expand_bound

InputModifier = Callable[[torch.Tensor], "torch.Tensor | None"]
ParamModifier = Callable[[torch.Tensor, str], torch.Tensor]


class SignPart:
    """Input modifier for ``x⁺`` (``positive=True``) or ``x⁻``; None when the part is all zero.

    When ``x`` has one sign only, the part is ``x`` itself (no copy) or None (skipped): after a ReLU
    the ``x⁻`` passes of z⁺, α-β and γ cost nothing.
    """

    #: a fact rules read: this modifier takes the (min, max) of ``x`` as a second argument
    uses_bounds = True

    def __init__(self, positive: bool) -> None:
        self.positive = positive

    def __call__(
        self, x: torch.Tensor, bounds: tuple[float, float] | None = None
    ) -> torch.Tensor | None:
        """The positive or negative part of ``x``; ``bounds`` = (min, max) of ``x`` if known."""
        low, high = bounds if bounds is not None else sign_bounds(x)
        if self.positive:
            if high <= 0:
                return None
            return x if low >= 0 else x.clamp(min=0)
        if low >= 0:
            return None
        return x if high <= 0 else x.clamp(max=0)

    def __repr__(self) -> str:
        return "positive_part" if self.positive else "negative_part"


def sign_bounds(x: torch.Tensor) -> tuple[float, float]:
    """(min, max) of ``x`` as floats (one pass over ``x``)."""
    if x.numel() == 0:
        return 0.0, 0.0
    low, high = torch.aminmax(x)
    return float(low), float(high)


positive_part = SignPart(True)
negative_part = SignPart(False)


def identity(x: torch.Tensor) -> torch.Tensor:
    """The input unchanged."""
    return x


def ones(x: torch.Tensor) -> torch.Tensor:
    """A tensor of ones shaped like ``x`` (no memory: an expanded scalar)."""
    return x.new_ones(()).expand_as(x)


class Bound:
    """Input modifier giving a constant bound (float or tensor) broadcast to the input's shape."""

    def __init__(self, value: torch.Tensor | float, what: str) -> None:
        self.value = value
        self.what = what

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """The bound, expanded to ``x``."""
        return expand_bound(self.value, x, self.what)

    def __repr__(self) -> str:
        return f"Bound({self.what})"


# -- parameter modifiers -----------------------------------------------------------------------
def keep(param: torch.Tensor, name: str) -> torch.Tensor:
    """The parameter unchanged."""
    return param


def _write_keep(param: torch.Tensor, name: str, out: torch.Tensor) -> None:
    out.copy_(param)


keep.write = _write_keep  # type: ignore[attr-defined]


def positive(param: torch.Tensor, name: str) -> torch.Tensor:
    """``θ⁺ = max(θ, 0)``."""
    return param.clamp(min=0)


def _write_positive(param: torch.Tensor, name: str, out: torch.Tensor) -> None:
    torch.clamp(param, min=0, out=out)


positive.write = _write_positive  # type: ignore[attr-defined]


def negative(param: torch.Tensor, name: str) -> torch.Tensor:
    """``θ⁻ = min(θ, 0)``."""
    return param.clamp(max=0)


def _write_negative(param: torch.Tensor, name: str, out: torch.Tensor) -> None:
    torch.clamp(param, max=0, out=out)


negative.write = _write_negative  # type: ignore[attr-defined]


def square(param: torch.Tensor, name: str) -> torch.Tensor:
    """``θ²``."""
    return param * param


def ones_param(param: torch.Tensor, name: str) -> torch.Tensor:
    """All ones (flat rule), as an expanded scalar: no weight-sized copy is kept."""
    return param.new_ones(()).expand_as(param)


def zeros_param(param: torch.Tensor, name: str) -> torch.Tensor:
    """All zeros."""
    return torch.zeros_like(param)


class GammaParam:
    """``θ + γ·θ⁺`` (``up=True``) or ``θ + γ·θ⁻``: the γ rule's weights ``W↑`` and ``W↓``."""

    def __init__(self, gamma: float, up: bool) -> None:
        self.gamma = float(gamma)
        self.up = up

    def __call__(self, param: torch.Tensor, name: str) -> torch.Tensor:
        """The γ-modified parameter."""
        part = param.clamp(min=0) if self.up else param.clamp(max=0)
        return part.mul_(self.gamma).add_(param)  # = param + γ·part, one temporary

    def write(self, param: torch.Tensor, name: str, out: torch.Tensor) -> None:
        """:meth:`__call__` written into ``out``."""
        if self.up:
            torch.clamp(param, min=0, out=out)
        else:
            torch.clamp(param, max=0, out=out)
        out.mul_(self.gamma).add_(param)

    def __repr__(self) -> str:
        return f"GammaParam({self.gamma:g}, {'up' if self.up else 'down'})"


class Negated:
    """``-modifier(θ)``."""

    def __init__(self, modifier: ParamModifier) -> None:
        self.modifier = modifier

    def __call__(self, param: torch.Tensor, name: str) -> torch.Tensor:
        """The negated modified parameter."""
        return -self.modifier(param, name)

    def __getattr__(self, name: str) -> object:
        if name == "write" and hasattr(self.__dict__.get("modifier"), "write"):
            return self._write
        raise AttributeError(name)

    def _write(self, param: torch.Tensor, name: str, out: torch.Tensor) -> None:
        self.modifier.write(param, name, out)
        out.neg_()


class WeightOnly:
    """``modifier`` on the weight, zero for the bias (a pass that must not add the bias again)."""

    def __init__(self, modifier: ParamModifier) -> None:
        self.modifier = modifier

    def __call__(self, param: torch.Tensor, name: str) -> torch.Tensor:
        """The modified weight, or a zero bias."""
        if name == "bias":
            return torch.zeros_like(param)
        return self.modifier(param, name)

    def __getattr__(self, name: str) -> object:
        if name == "write" and hasattr(self.__dict__.get("modifier"), "write"):
            return self._write
        raise AttributeError(name)

    def _write(self, param: torch.Tensor, name: str, out: torch.Tensor) -> None:
        if name == "bias":
            out.zero_()
        else:
            self.modifier.write(param, name, out)
