"""LRP rules for linear layers (Linear, Conv, ConvTranspose).

ε, z⁺, α-β, γ, z^B, flat, w² and excitation backprop; ``docs/lrp-rules.md`` has the formulas.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch

from relscope.core.attribution import flat_counts, nonnegative_gamma, zbox_bounds
from relscope.core.attribution.linear_rule import LinearRule
from relscope.core.attribution.modifiers import (
    Bound,
    GammaParam,
    Negated,
    WeightOnly,
    identity,
    keep,
    negative,
    negative_part,
    ones,
    ones_param,
    positive,
    positive_part,
    sign_bounds,
    square,
)
from relscope.core.attribution.rule import RuleContext
from relscope.core.attribution.stabilizer import Stabilizer, StabilizerLike
from relscope.core.errors import RuleConfigurationError

ZeroParams = str | Sequence[str] | None


class Epsilon(LinearRule):
    """LRP-ε: ``R_in = x ∘ Jᵀ (R / s(z))`` with z the layer output (bias included); ε=0 is LRP-0."""

    name = "epsilon"

    def __init__(self, epsilon: StabilizerLike = 1e-6, zero_params: ZeroParams = None) -> None:
        super().__init__([identity], [[keep]], stabilizer=epsilon, zero_params=zero_params)


class ZPlus(LinearRule):
    """LRP-z⁺: ``z⁺ = W⁺x⁺ + W⁻x⁻ + b⁺``, ``R_in = x⁺∘W⁺ᵀg + x⁻∘W⁻ᵀg``, ``g = R / s(z⁺)``."""

    name = "zplus"

    def __init__(self, stabilizer: StabilizerLike = 1e-6, zero_params: ZeroParams = None) -> None:
        super().__init__(
            [positive_part, negative_part],
            [[positive, WeightOnly(negative)]],
            stabilizer=stabilizer,
            zero_params=zero_params,
            nonnegative_outputs=[True],  # x⁺W⁺ + x⁻W⁻ + b⁺
        )


class ExcitationBackprop(ZPlus):
    """Excitation backprop's marginal winning probability on a linear layer: z⁺ without bias.

    Used with activations that keep their gradient, so ``P_in = x⁺ ∘ W⁺ᵀ (P / s(W⁺x⁺))`` as in
    Zhang et al. (2018); ``zero_params=()`` keeps the bias in the denominator.
    """

    name = "excitation_backprop"

    def __init__(
        self, stabilizer: StabilizerLike = 1e-6, zero_params: ZeroParams = ("bias",)
    ) -> None:
        super().__init__(stabilizer=stabilizer, zero_params=zero_params)


class AlphaBeta(LinearRule):
    """LRP-αβ: positive contributions weighted by α, negative ones by β (α, β ≥ 0, α − β = 1)."""

    name = "alpha_beta"

    def __init__(
        self,
        alpha: float = 2.0,
        beta: float = 1.0,
        stabilizer: StabilizerLike = 1e-6,
        zero_params: ZeroParams = None,
    ) -> None:
        alpha, beta = float(alpha), float(beta)
        if alpha < 0 or beta < 0:
            raise RuleConfigurationError(
                f"alpha_beta needs alpha >= 0 and beta >= 0, got {alpha:g}, {beta:g}"
            )
        if not math.isclose(alpha - beta, 1.0, rel_tol=0.0, abs_tol=1e-9):
            raise RuleConfigurationError(
                f"alpha_beta needs alpha - beta = 1 to conserve relevance, got alpha={alpha:g}, "
                f"beta={beta:g} (alpha - beta = {alpha - beta:g})"
            )
        self.alpha, self.beta = alpha, beta
        super().__init__(
            [positive_part, negative_part],
            [[positive, WeightOnly(negative)], [negative, WeightOnly(positive)]],
            stabilizer=stabilizer,
            zero_params=zero_params,
            scales=[alpha, -beta],
            output_divisor=1.0,  # z⁺ + z⁻ is the ordinary output
            nonnegative_outputs=[True, False],  # z⁺ >= 0
        )

    def describe(self) -> str:
        """Name, α and β."""
        return f"alpha_beta(alpha={self.alpha:g}, beta={self.beta:g})"


class Gamma(LinearRule):
    """Generalised LRP-γ: positive contributions amplified by γ, also for negative inputs.

    ``W↑ = W + γW⁺``, ``W↓ = W + γW⁻``; outputs with z > 0 use ``z↑ = W↑x⁺ + W↓x⁻ + b↑``,
    outputs with z < 0 use ``z↓ = W↓x⁺ + W↑x⁻ + b↓``, outputs with z = 0 pass nothing.
    """

    name = "gamma"

    def __init__(
        self, gamma: float = 0.25, stabilizer: StabilizerLike = 1e-6, zero_params: ZeroParams = None
    ) -> None:
        gamma = float(gamma)
        if not gamma >= 0:
            raise RuleConfigurationError(f"gamma must be >= 0, got {gamma:g}")
        self.gamma = gamma
        up, down = GammaParam(gamma, up=True), GammaParam(gamma, up=False)
        super().__init__(
            [positive_part, negative_part],
            [[up, WeightOnly(down)], [down, WeightOnly(up)]],
            stabilizer=stabilizer,
            zero_params=zero_params,
            output_divisor=2.0 + gamma,  # W↑ + W↓ = (2 + γ)W and b↑ + b↓ = (2 + γ)b
        )

    def forward(self, ctx: RuleContext, x: torch.Tensor) -> torch.Tensor:
        """On a non-negative input the |W| form (:mod:`~relscope.core.attribution.
        nonnegative_gamma`: one extra pass each way), otherwise the general form."""
        assert self.op is not None
        self.op.check_input(x)
        bounds = sign_bounds(x)
        if nonnegative_gamma.applies(self, bounds, self.runs_standard_forward()):
            return nonnegative_gamma.forward(self, ctx, x)
        return self.general_forward(ctx, x, bounds)

    def backward(self, ctx: RuleContext, relevance: torch.Tensor) -> torch.Tensor:
        """The relevance at the input, by the form the forward pass took."""
        if getattr(ctx, "nonnegative_gamma", False):
            return nonnegative_gamma.backward(self, ctx, relevance)
        return super().backward(ctx, relevance)

    def keep_outputs(self, outputs: list[torch.Tensor], output: torch.Tensor) -> list[torch.Tensor]:
        """One float per output: ``s(z↑)`` where z > 0, ``s(z↓)`` where z < 0, ∞ where z = 0.

        Its sign is set to the sign of z (which z↑ ≥ z and z↓ ≤ z already give it, up to
        rounding), so the backward pass can tell the two groups apart without a mask.
        """
        up, down = outputs
        chosen = torch.where(output > 0, up, down)
        if isinstance(self.stabilizer, Stabilizer) and self.stabilizer.adds_epsilon:
            return [self.stabilizer.signed_magnitude_(chosen, output)]  # 4 passes instead of 7
        chosen.masked_fill_(output == 0, math.inf)  # s(∞) = ∞: nothing passes
        if isinstance(self.stabilizer, Stabilizer):
            denominator = self.stabilizer.stabilize_(chosen)
        else:
            denominator = self.stabilizer(chosen)
        return [torch.copysign(denominator, output, out=denominator)]

    def gradient_mapper(
        self, relevance: torch.Tensor, kept: list[torch.Tensor]
    ) -> list[torch.Tensor]:
        """``g↑ = 1[z>0] R / s(z↑)``, ``g↓ = 1[z<0] R / s(z↓)`` (written into the stacked buffer)."""
        (denominator,) = kept
        up, down = self.gradient_buffers(relevance)
        torch.div(relevance, denominator, out=down)
        torch.mul(down, denominator > 0, out=up)
        return [up, down.sub_(up)]

    def describe(self) -> str:
        """Name and γ."""
        return f"gamma(gamma={self.gamma:g})"


class ZBox(LinearRule):
    """LRP-z^B for inputs bounded by ``low ≤ x ≤ high`` (first layer on pixels).

    ``d = Wx − W⁺l − W⁻h`` (bias cancels), ``R_in = x∘Wᵀg − l∘W⁺ᵀg − h∘W⁻ᵀg``, ``g = R / s(d)``.
    """

    name = "zbox"

    def __init__(
        self,
        low: Any = None,
        high: Any = None,
        stabilizer: StabilizerLike = 1e-6,
        zero_params: ZeroParams = None,
    ) -> None:
        if low is None or high is None:
            raise RuleConfigurationError(
                "zbox needs the input bounds low and high (e.g. low=-3.0, high=3.0, or tensors "
                "of shape (1, C, 1, 1) for per-channel bounds of normalised images)"
            )
        for what, value in (("low", low), ("high", high)):
            if not isinstance(value, int | float | torch.Tensor) or isinstance(value, bool):
                raise RuleConfigurationError(
                    f"zbox {what} must be a float or a tensor, got {value!r}"
                )
        self.low, self.high = low, high
        super().__init__(
            [identity, Bound(low, "zbox low bound"), Bound(high, "zbox high bound")],
            [[keep, Negated(positive), Negated(negative)]],
            stabilizer=stabilizer,
            zero_params=zero_params,
        )

    def describe(self) -> str:
        """Name and bounds."""

        def text(value: Any) -> str:
            return f"{value:g}" if isinstance(value, int | float) else f"tensor{tuple(value.shape)}"

        return f"zbox(low={text(self.low)}, high={text(self.high)})"

    def forward(self, ctx: RuleContext, x: torch.Tensor) -> torch.Tensor:
        """With bounds shared by all samples the two-pass form (:mod:`~relscope.core.
        attribution.zbox_bounds`), otherwise the general form."""
        assert self.op is not None
        self.op.check_input(x)
        if zbox_bounds.applies(self, x, self.runs_standard_forward()):
            return zbox_bounds.forward(self, ctx, x)
        return self.general_forward(ctx, x, None)

    def backward(self, ctx: RuleContext, relevance: torch.Tensor) -> torch.Tensor:
        """The relevance at the input, by the form the forward pass took."""
        if getattr(ctx, "zbox_bounds", False):
            return zbox_bounds.backward(self, ctx, relevance)
        return super().backward(ctx, relevance)


class Flat(LinearRule):
    """LRP-flat: relevance spread uniformly over each output's receptive field.

    Inputs and weights are replaced by ones and the bias by zero.
    """

    name = "flat"

    def __init__(self, stabilizer: StabilizerLike = 1e-6, zero_params: ZeroParams = None) -> None:
        super().__init__(
            [ones],
            [[WeightOnly(ones_param)]],
            stabilizer=stabilizer,
            zero_params=zero_params,
            nonnegative_outputs=[True],  # counts of the receptive field
        )

    def forward(self, ctx: RuleContext, x: torch.Tensor) -> torch.Tensor:
        """Counts from one batch-1 call where they are shared by samples and channels
        (:mod:`~relscope.core.attribution.flat_counts`), otherwise the general form."""
        assert self.op is not None
        self.op.check_input(x)
        if flat_counts.applies(self):
            return flat_counts.forward(self, ctx, x)
        return self.general_forward(ctx, x, None)

    def backward(self, ctx: RuleContext, relevance: torch.Tensor) -> torch.Tensor:
        """The relevance at the input, by the form the forward pass took."""
        if getattr(ctx, "flat_counts", False):
            return flat_counts.backward(self, ctx, relevance)
        return super().backward(ctx, relevance)


class WSquare(LinearRule):
    """LRP-w²: relevance in proportion to squared weights (inputs replaced by ones).

    ``R_in = (W²)ᵀ (R / s(Σ_i w_ij² + b_j²))``, bias squared too.
    """

    name = "wsquare"

    def __init__(self, stabilizer: StabilizerLike = 1e-6, zero_params: ZeroParams = None) -> None:
        super().__init__(
            [ones],
            [[square]],
            stabilizer=stabilizer,
            zero_params=zero_params,
            nonnegative_outputs=[True],  # Σ w² + b²
        )


RULES = (Epsilon, ZPlus, AlphaBeta, Gamma, ZBox, Flat, WSquare, ExcitationBackprop)
