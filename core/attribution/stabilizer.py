"""The stabiliser ``s(z)``: keeps LRP denominators away from zero without flipping their sign."""

from __future__ import annotations

import math
from collections.abc import Callable
from numbers import Real
from typing import Any

import torch

from relscope.core.errors import RuleConfigurationError

StabilizerLike = float | Callable[[torch.Tensor], torch.Tensor]


class Stabilizer:
    """``s(z) = z + ε·sign₀(z)`` with ``sign₀(0) = +1``, so a zero denominator becomes ε.

    ``clip=True`` gives ``sign₀(z)·max(|z|, ε)`` instead (only small values move);
    ``rms_scaled=True`` scales ε by the root mean square of ``z`` per sample (all axes but the
    first), so ε means the same for large and small activations. With ``epsilon=0`` (LRP-0) an
    exactly zero denominator becomes ∞, so ``R / s(z)`` is 0 there instead of NaN.
    """

    def __init__(self, epsilon: float = 1e-6, clip: bool = False, rms_scaled: bool = False) -> None:
        if not isinstance(epsilon, Real) or isinstance(epsilon, bool) or not epsilon >= 0:
            raise RuleConfigurationError(
                f"the stabiliser epsilon must be a float >= 0, got {epsilon!r}"
            )
        self.epsilon = float(epsilon)
        self.clip = bool(clip)
        self.rms_scaled = bool(rms_scaled)

    def __call__(self, z: torch.Tensor) -> torch.Tensor:
        """The stabilised denominator, same shape as ``z``."""
        if self.epsilon == 0.0:
            return z.masked_fill(z == 0, math.inf)
        eps: Any = self.epsilon
        if self.rms_scaled:
            dims = tuple(range(1, z.dim()))
            rms = z.square().mean(dim=dims, keepdim=True).sqrt() if dims else z.abs()
            eps = eps * rms
        if self.clip:
            nonneg = z >= 0
            if isinstance(eps, float):
                return torch.where(nonneg, z.clamp(min=eps), z.clamp(max=-eps))
            return torch.where(nonneg, torch.maximum(z, eps), torch.minimum(z, -eps))
        if isinstance(eps, float):
            # z + ε·sign₀(z) in two passes; "+ 0.0" turns -0.0 into +0.0, so sign₀(-0.0) = +1
            shift = z + 0.0
            torch.copysign(z.new_tensor(eps), shift, out=shift)
            return shift.add_(z)
        return torch.where(z >= 0, z + eps, z - eps)

    def stabilize_(self, z: torch.Tensor) -> torch.Tensor:
        """:meth:`__call__` in place on ``z`` (a tensor the caller owns); returns ``z``.

        Saves an output-sized allocation per layer; the result may differ from the out-of-place
        form by one rounding step for negative values.
        """
        if self.clip or self.rms_scaled or self.epsilon == 0.0:
            return z.copy_(self(z))
        negative = z < 0  # -0.0 is not negative: sign₀(-0.0) = +1
        z.add_(self.epsilon)
        return z.add_(negative, alpha=-2.0 * self.epsilon)

    @property
    def adds_epsilon(self) -> bool:
        """True for the plain form ``z + ε·sign₀(z)`` with ε > 0 (no clipping, no RMS scale), whose
        magnitude is ``|z| + ε`` everywhere (the fast paths below rely on it)."""
        return self.epsilon > 0.0 and not self.clip and not self.rms_scaled

    def stabilize_nonnegative_(self, z: torch.Tensor) -> torch.Tensor:
        """:meth:`stabilize_` for a ``z`` that is ``>= 0`` by construction (sums of non-negative
        products, e.g. ``W⁺x⁺ + b⁺``): ``z + ε`` (or ``max(z, ε)`` when clipping) in one pass.

        Identical to :meth:`stabilize_` on such a ``z`` (``-0.0`` included: it becomes ε).
        """
        if self.adds_epsilon:
            return z.add_(self.epsilon)
        if self.clip and not self.rms_scaled and self.epsilon > 0.0:
            return z.clamp_(min=self.epsilon)
        return self.stabilize_(z)

    def signed_magnitude_(self, chosen: torch.Tensor, sign_of: torch.Tensor) -> torch.Tensor:
        """``|s(chosen)|`` with the sign of ``sign_of`` and ±∞ where ``sign_of`` is zero, in place
        on ``chosen`` (a tensor the caller owns); needs :attr:`adds_epsilon`.

        ``|s(c)| = |c| + ε``, rounded exactly like the out-of-place :meth:`__call__`; dividing by
        ``sign(sign_of)`` sets the sign and turns a zero into an infinite denominator.
        """
        assert self.adds_epsilon
        return chosen.abs_().add_(self.epsilon).div_(torch.sign(sign_of))

    @classmethod
    def ensure(cls, value: StabilizerLike | Stabilizer) -> Callable[[torch.Tensor], torch.Tensor]:
        """A stabiliser from a float (ε), a Stabilizer, or any callable ``z -> s(z)``."""
        if isinstance(value, Stabilizer):
            return value
        if isinstance(value, Real) and not isinstance(value, bool):
            return cls(float(value))
        if callable(value):
            return value
        raise RuleConfigurationError(
            f"a stabiliser must be a float or a callable z -> s(z), not {type(value).__name__}"
        )

    def __repr__(self) -> str:
        extra = (", clip=True" if self.clip else "") + (
            ", rms_scaled=True" if self.rms_scaled else ""
        )
        return f"Stabilizer({self.epsilon:g}{extra})"
