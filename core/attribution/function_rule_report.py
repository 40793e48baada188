"""What ``relscope inspect`` says about attention, norms and activations: the rule each got.

Module rules show in the per-layer table; the function rules of gradient-form composites
(``attn_lrp``, ``cp_lrp``) act on torch calls, so they are reported per attention layer and norm
layer, with how many calls of each kind the rules changed in one forward.
"""

from __future__ import annotations

from typing import Any

from torch import nn

from relscope.core.attribution.attention_coverage import attention_layers

#: what each function rule does, per variant
_RULES = {
    "attn_lrp": {
        "attention": "AttnLRP: q, k ¼ and v ½ of the gradient (uniform rule), softmax keeps its gradient",
        "norm": "1/std constant (centring keeps its gradient)",
        "product": "uniform rule: each factor ½ of the gradient",
        "activation": "identity rule: gradient × f(x)/x",
    },
    "cp_lrp": {
        "attention": "CP-LRP: attention probabilities constant (no gradient into q, k), v full",
        "norm": "1/std constant (centring keeps its gradient)",
        "product": "gate constant (signal keeps the gradient), else uniform ½",
        "activation": "identity rule: gradient × f(x)/x",
    },
}

_NORM_WORDS = ("layernorm", "rmsnorm", "groupnorm")


def is_norm_layer(module: nn.Module) -> bool:
    """LayerNorm, RMSNorm and the like (any class whose name says so)."""
    return isinstance(module, nn.LayerNorm | nn.RMSNorm) or any(
        word in type(module).__name__.lower() for word in _NORM_WORDS
    )


def attention_blocks(model: nn.Module) -> list[str]:
    """The modules directly holding an attention layer (transformer blocks), in order."""
    blocks: list[str] = []
    for name, _ in attention_layers(model):
        parent = name.rpartition(".")[0]
        if parent and parent not in blocks:
            blocks.append(parent)
    return blocks


def function_rule_lines(composite: Any, model: nn.Module, counts: dict[str, int]) -> list[str]:
    """Lines naming the rule of every attention and norm layer, and the changed-call counts."""
    variant = getattr(composite, "variant", None)
    lines: list[str] = []
    layers = attention_layers(model)
    if variant not in _RULES:
        for name, cls in layers:
            lines.append(f"warning: attention layer {name!r} ({cls}) gets no rule (gradient)")
        return lines
    rules = _RULES[variant]
    for name, cls in layers:
        lines.append(f"attention {name or '<model>'} ({cls}): {rules['attention']}")
    for name, module in model.named_modules():
        if is_norm_layer(module):
            lines.append(f"norm {name} ({type(module).__name__}): {rules['norm']}")
    changed = ", ".join(f"{kind} {counts[kind]}" for kind in sorted(counts) if kind != "mark")
    lines.append(f"function rules changed these calls in one forward: {changed or 'none'}")
    for kind in ("product", "activation"):
        if counts.get(kind):
            lines.append(f"{kind}: {rules[kind]}")
    return lines
