"""AttnLRP and CP-LRP for the operations of transformers, in gradient × input form.

Relevance at a tensor is the tensor times its modified gradient (the form of LXT's efficient
mode), so every rule is a change of the ordinary backward pass (Achtibat et al., ICML 2024; CP-LRP:
Ali et al., ICML 2022):

- element-wise non-linearity ``f``: identity rule, the backward multiplies by ``f(x) / (x + 1e-10)``;
- LayerNorm / RMSNorm / ``x * torch.rsqrt(...)`` / ``F.normalize``: the normalising factor is a
  constant (no gradient through the statistics; the centring of LayerNorm keeps its gradient);
- a product of two signals (``a @ b``, ``einsum``, ``bmm``, ``a * b``): uniform rule, each operand's
  gradient halved (so q and k of ``softmax(q kᵀ) v`` get a quarter, v a half); softmax keeps its
  gradient. ``F.scaled_dot_product_attention`` and ``F.multi_head_attention_forward`` get the same
  factors on their q, k, v inputs;
- dropout (``F.dropout``, SDPA's ``dropout_p``) is the identity, also in training mode;
- CP-LRP: the attention probabilities are constants (no gradient into q and k; the value path
  keeps its full gradient), and in a gated product the gate (an activation's output) is constant.

:func:`attention_handlers` builds the table a :class:`~relscope.core.attribution.
function_interception.FunctionInterceptor` uses. Ordinary gradients (linear layers, residual
additions, rotary embeddings, masks) need nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch.autograd import Function

from relscope.core.attribution.function_interception import FunctionInterceptor, is_signal
from relscope.core.errors import AttributionError

#: tensor attributes marking the outputs of a softmax (attention probabilities) and of an
#: element-wise activation (a gate, for CP-LRP's gated products)
PROBABILITIES_MARK = "_relscope_probabilities"
GATE_MARK = "_relscope_gate"

#: the identity rule's stabiliser (as in LXT): ``f(x) / (x + 1e-10)``
IDENTITY_EPSILON = 1e-10

VARIANTS = ("attn_lrp", "cp_lrp")


class ScaleGradients(Function):
    """Identity forward of several tensors; the backward multiplies each one's gradient by its
    factor (one autograd node for all, e.g. q, k and v)."""

    @staticmethod
    def forward(ctx: Any, factors: tuple[float, ...], *tensors: torch.Tensor) -> Any:  # type: ignore[override]
        ctx.factors = factors
        return tuple(t.view_as(t) for t in tensors)

    @staticmethod
    def backward(ctx: Any, *grads: torch.Tensor | None) -> tuple:  # type: ignore[override]
        scaled = (None if g is None else g * f for g, f in zip(grads, ctx.factors))
        return (None, *scaled)


class IdentityRuleFunction(Function):
    """``y = f(x)``; the backward multiplies by ``f(x) / (x + ε)`` (relevance passes unchanged)."""

    @staticmethod
    def forward(ctx: Any, fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor) -> Any:  # type: ignore[override]
        output = fn(x)
        ctx.save_for_backward(output / (x + IDENTITY_EPSILON))
        return output

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[None, torch.Tensor]:  # type: ignore[override]
        (ratio,) = ctx.saved_tensors
        return None, grad * ratio


def identity_rule(fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """``fn(x)`` with the identity rule's backward; the output is marked as a gate."""
    output = IdentityRuleFunction.apply(fn, x)
    setattr(output, GATE_MARK, True)
    return output


class ConstantStatisticsNorm(Function):
    """LayerNorm (``centre=True``) or RMSNorm with its exact output and a backward that treats
    ``1/std`` as a constant: ``g' = g ∘ w / std``, minus its mean for LayerNorm (the centring).

    ``statistics(x)`` returns the norm's output and ``1/std`` (keepdim over ``dims``) together, so
    a kernel that computes both in one pass (``torch.native_layer_norm``) is used once."""

    @staticmethod
    def forward(  # type: ignore[override]
        ctx: Any,
        x: torch.Tensor,
        statistics: Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]],
        dims: tuple[int, ...],
        weight: torch.Tensor | None,
        centre: bool,
    ) -> torch.Tensor:
        result, rstd = statistics(x)
        ctx.dims, ctx.centre = dims, centre
        ctx.save_for_backward(rstd.to(x.dtype), weight)
        return result

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple:  # type: ignore[override]
        rstd, weight = ctx.saved_tensors
        g = grad * rstd if weight is None else grad * weight * rstd
        if ctx.centre:
            g = g - g.mean(dim=ctx.dims, keepdim=True)
        return g, None, None, None, None


def _normalized_shape(normalized_shape: Any) -> list[int]:
    return [normalized_shape] if isinstance(normalized_shape, int) else list(normalized_shape)


def _layer_norm(func: Any, args: tuple, kwargs: dict, mode: FunctionInterceptor) -> Any:
    bound = _bind(args, kwargs, ("input", "normalized_shape", "weight", "bias", "eps"))
    x = bound["input"]
    weight, bias = bound.get("weight"), bound.get("bias")
    if not is_signal(x) or is_signal(weight) or is_signal(bias):
        return NotImplemented
    eps = bound.get("eps", 1e-5)
    shape = _normalized_shape(bound["normalized_shape"])
    dims = tuple(range(x.dim() - len(shape), x.dim()))

    def statistics(t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        # the kernel F.layer_norm runs, which also returns the 1/std it used
        output, _, rstd = torch.native_layer_norm(t, shape, weight, bias, eps)
        return output, rstd

    return ConstantStatisticsNorm.apply(x, statistics, dims, weight, True)


def _rms_norm(func: Any, args: tuple, kwargs: dict, mode: FunctionInterceptor) -> Any:
    bound = _bind(args, kwargs, ("input", "normalized_shape", "weight", "eps"))
    x = bound["input"]
    weight = bound.get("weight")
    if not is_signal(x) or is_signal(weight):
        return NotImplemented
    eps = bound.get("eps")
    if eps is None:
        eps = torch.finfo(x.dtype).eps
    shape = _normalized_shape(bound["normalized_shape"])
    dims = tuple(range(x.dim() - len(shape), x.dim()))

    def statistics(t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        tf = t.float() if t.dtype in (torch.float16, torch.bfloat16) else t
        return func(*args, **kwargs), torch.rsqrt(tf.pow(2).mean(dim=dims, keepdim=True) + eps)

    return ConstantStatisticsNorm.apply(x, statistics, dims, weight, False)


def _bind(args: tuple, kwargs: dict, names: tuple[str, ...]) -> dict[str, Any]:
    bound = dict(zip(names, args))
    bound.update({k: v for k, v in kwargs.items() if k in names})
    return bound


def _constant_factor(func: Any, args: tuple, kwargs: dict, mode: FunctionInterceptor) -> Any:
    """``torch.rsqrt`` of a signal (a normalising factor): its value, without gradient."""
    if not args or not is_signal(args[0]):
        return NotImplemented
    return func(*args, **kwargs).detach()


def _normalize(func: Any, args: tuple, kwargs: dict, mode: FunctionInterceptor) -> Any:
    bound = _bind(args, kwargs, ("input", "p", "dim", "eps", "out"))
    x = bound["input"]
    if not is_signal(x) or bound.get("out") is not None:
        return NotImplemented
    p, dim, eps = bound.get("p", 2.0), bound.get("dim", 1), bound.get("eps", 1e-12)
    with torch.no_grad():
        denominator = x.norm(p, dim, keepdim=True).clamp_min(eps).expand_as(x)
    return x / denominator


def _activation(func: Any, args: tuple, kwargs: dict, mode: FunctionInterceptor) -> Any:
    if not args or not is_signal(args[0]) or kwargs.get("inplace") or kwargs.get("out") is not None:
        return NotImplemented
    rest = args[1:]
    return identity_rule(lambda t: func(t, *rest, **kwargs), args[0])


_PASS_MARKS = (PROBABILITIES_MARK, GATE_MARK)


def _keep_marks(func: Any, args: tuple, kwargs: dict, mode: FunctionInterceptor) -> Any:
    """Casts, copies and dropout keep a tensor's marks (``softmax(...).to(dtype)``)."""
    if not args or not isinstance(args[0], torch.Tensor):
        return NotImplemented
    marks = [mark for mark in _PASS_MARKS if getattr(args[0], mark, False)]
    if not marks:
        return NotImplemented
    output = func(*args, **kwargs)
    if isinstance(output, torch.Tensor) and output is not args[0]:
        for mark in marks:
            setattr(output, mark, True)
    return output


def _dropout(func: Any, args: tuple, kwargs: dict, mode: FunctionInterceptor) -> Any:
    """Dropout is the identity (also in training mode), marks included."""
    if not args or not is_signal(args[0]):
        return NotImplemented
    return args[0]


def _softmax(func: Any, args: tuple, kwargs: dict, mode: FunctionInterceptor) -> Any:
    if not args or not is_signal(args[0]):
        return NotImplemented
    output = func(*args, **kwargs)
    setattr(output, PROBABILITIES_MARK, True)
    return output


class AttentionVariant:
    """The factors of one variant: ``attn_lrp`` (uniform rule) or ``cp_lrp`` (constant
    attention probabilities and gates)."""

    def __init__(self, name: str) -> None:
        if name not in VARIANTS:
            raise AttributionError(f"unknown attention rule variant {name!r}; expected {VARIANTS}")
        self.name = name
        self.conservative = name == "cp_lrp"

    def bilinear(self, a: torch.Tensor, b: torch.Tensor, mark: str) -> tuple[Any, Any]:
        """Both operands of a product of two signals, with their gradients rescaled."""
        if self.conservative:
            a_marked, b_marked = bool(getattr(a, mark, False)), bool(getattr(b, mark, False))
            if a_marked != b_marked:  # the constant side: probabilities, or the gate
                return (a.detach(), b) if a_marked else (a, b.detach())
        return _scaled((a, b), (0.5, 0.5))

    def attention_inputs(self, q: Any, k: Any, v: Any) -> tuple[Any, Any, Any]:
        """q, k, v of a fused attention call with the variant's factors."""
        if self.conservative:
            return _detach(q), _detach(k), v
        return _scaled((q, k, v), (0.25, 0.25, 0.5))


def _detach(x: Any) -> Any:
    return x.detach() if is_signal(x) else x


def _scaled(values: tuple[Any, ...], factors: tuple[float, ...]) -> tuple[Any, ...]:
    """``values`` with each signal's gradient multiplied by its factor (one autograd node)."""
    signals = [i for i, value in enumerate(values) if is_signal(value)]
    if not signals:
        return values
    views = ScaleGradients.apply(tuple(factors[i] for i in signals), *(values[i] for i in signals))
    scaled = list(values)
    for i, view in zip(signals, views):
        scaled[i] = view
    return tuple(scaled)


def _matmul_like(positions: tuple[int, int], mark: str, variant: AttentionVariant) -> Any:
    first, second = positions

    def handler(func: Any, args: tuple, kwargs: dict, mode: FunctionInterceptor) -> Any:
        if len(args) <= second or not (is_signal(args[first]) and is_signal(args[second])):
            return NotImplemented
        a, b = variant.bilinear(args[first], args[second], mark)
        new = list(args)
        new[first], new[second] = a, b
        return func(*new, **kwargs)

    return handler


def _einsum(variant: AttentionVariant) -> Any:
    def handler(func: Any, args: tuple, kwargs: dict, mode: FunctionInterceptor) -> Any:
        if len(args) == 2 and isinstance(args[1], list | tuple):
            operands = list(args[1])
        else:
            operands = list(args[1:])
        if len(operands) != 2 or not all(is_signal(o) for o in operands):
            return NotImplemented
        a, b = variant.bilinear(operands[0], operands[1], PROBABILITIES_MARK)
        return func(args[0], a, b, **kwargs)

    return handler


def _fused_attention(variant: AttentionVariant) -> Any:
    def handler(func: Any, args: tuple, kwargs: dict, mode: FunctionInterceptor) -> Any:
        names = ("query", "key", "value")
        values = [args[i] if i < len(args) else kwargs.get(name) for i, name in enumerate(names)]
        if not any(is_signal(v) for v in values):
            return NotImplemented
        q, k, v = variant.attention_inputs(*values)
        new_args, new_kwargs = list(args), dict(kwargs)
        if func is F.scaled_dot_product_attention:  # dropout: the identity
            if len(new_args) > 4:
                new_args[4] = 0.0
            elif "dropout_p" in new_kwargs:
                new_kwargs["dropout_p"] = 0.0
        for i, (name, value) in enumerate(zip(names, (q, k, v))):
            if i < len(new_args):
                new_args[i] = value
            else:
                new_kwargs[name] = value
        return func(*new_args, **new_kwargs)

    return handler


def _refuse(func: Any, args: tuple, kwargs: dict, mode: FunctionInterceptor) -> Any:
    tensors = [a for a in args if isinstance(a, torch.Tensor)]
    if not any(is_signal(t) for t in tensors):
        return NotImplemented
    raise AttributionError(
        f"unrecognised attention operation {_qualified(func)}: relscope has no AttnLRP/CP-LRP rule "
        "for it; compute attention with softmax(q @ k.T) @ v or F.scaled_dot_product_attention"
    )


def _qualified(func: Any) -> str:
    module = getattr(func, "__module__", None) or "torch"
    name = getattr(func, "__name__", None) or repr(func)
    if module.startswith("torch._C") or module == "torch":
        module = "torch"
    return f"{module}.{name}"


_ACTIVATIONS = (
    F.gelu,
    F.silu,
    F.mish,
    F.elu,
    F.celu,
    F.selu,
    F.softplus,
    F.hardswish,
    F.sigmoid,
    F.tanh,
    torch.sigmoid,
    torch.tanh,
    torch.Tensor.sigmoid,
    torch.Tensor.tanh,
)

_MARK_KEEPERS = (
    torch.Tensor.to,
    torch.Tensor.type,
    torch.Tensor.type_as,
    torch.Tensor.float,
    torch.Tensor.half,
    torch.Tensor.bfloat16,
    torch.Tensor.double,
    torch.Tensor.contiguous,
    torch.Tensor.clone,
)

_DROPOUTS = (F.dropout, torch.dropout, F.dropout1d, F.dropout2d, F.dropout3d, F.alpha_dropout)

#: torch's fused attention kernels that bypass the functions above: refused, never mis-attributed
_UNRECOGNISED_ATTENTION = tuple(
    fn
    for fn in (
        getattr(torch, "_native_multi_head_attention", None),
        getattr(torch, "_transformer_encoder_layer_fwd", None),
        getattr(torch, "_scaled_dot_product_flash_attention", None),
        getattr(torch, "_scaled_dot_product_efficient_attention", None),
        getattr(torch, "_fused_sdp_choice", None),
    )
    if fn is not None
)


def attention_handlers(variant: str) -> dict[Any, tuple[str, Any]]:
    """The handler table of ``variant`` (``"attn_lrp"`` or ``"cp_lrp"``): torch function ->
    (kind, handler). Kinds: attention, softmax, product, activation, norm, mark."""
    rules = AttentionVariant(variant)
    table: dict[Any, tuple[str, Any]] = {}
    matmul = _matmul_like((0, 1), PROBABILITIES_MARK, rules)
    for fn in (
        torch.matmul,
        torch.Tensor.matmul,
        torch.Tensor.__matmul__,
        torch.Tensor.__rmatmul__,
        torch.bmm,
        torch.Tensor.bmm,
        torch.mm,
        torch.Tensor.mm,
    ):
        table[fn] = ("product", matmul)
    table[torch.baddbmm] = ("product", _matmul_like((1, 2), PROBABILITIES_MARK, rules))
    table[torch.Tensor.baddbmm] = table[torch.baddbmm]
    table[torch.einsum] = ("product", _einsum(rules))
    mul = _matmul_like((0, 1), GATE_MARK, rules)
    for fn in (torch.mul, torch.Tensor.mul, torch.Tensor.__mul__, torch.Tensor.__rmul__):
        table[fn] = ("product", mul)
    fused = _fused_attention(rules)
    table[F.scaled_dot_product_attention] = ("attention", fused)
    table[F.multi_head_attention_forward] = ("attention", fused)
    for fn in (torch.softmax, F.softmax, torch.Tensor.softmax):
        table[fn] = ("softmax", _softmax)
    for fn in _ACTIVATIONS:
        table[fn] = ("activation", _activation)
    table[F.layer_norm] = ("norm", _layer_norm)
    if hasattr(F, "rms_norm"):
        table[F.rms_norm] = ("norm", _rms_norm)
    for fn in (torch.rsqrt, torch.Tensor.rsqrt):
        table[fn] = ("norm", _constant_factor)
    table[F.normalize] = ("norm", _normalize)
    for fn in _MARK_KEEPERS:
        table[fn] = ("mark", _keep_marks)
    for fn in _DROPOUTS:
        table[fn] = ("mark", _dropout)
    for fn in _UNRECOGNISED_ATTENTION:
        table[fn] = ("refused", _refuse)
    return table
