"""Finds a model's attention layers, to warn when a composite has no rule for them.

An LRP composite for CNNs leaves attention to the plain gradient, which is not relevance; entering
such a composite on a model with attention layers warns and names them (``relscope inspect`` shows
the same list). Attention layers are ``nn.MultiheadAttention`` and modules whose class name says
"Attention" (torchvision's Swin/MaxViT attention, every Hugging Face and timm attention module);
only the outermost of nested ones is named.
"""

from __future__ import annotations

import warnings
from typing import Any

from torch import nn


class UncoveredAttentionWarning(UserWarning):
    """A composite without attention rules was entered on a model with attention layers."""


def attention_layers(model: nn.Module) -> list[tuple[str, str]]:
    """(qualified name, class name) of each outermost attention layer, in definition order."""
    found: list[tuple[str, str]] = []
    for name, module in model.named_modules():
        if not (
            isinstance(module, nn.MultiheadAttention)
            or "attention" in type(module).__name__.lower()
        ):
            continue
        if any(name.startswith(outer + ".") for outer, _ in found if outer):
            continue
        found.append((name, type(module).__name__))
    return found


def warn_uncovered_attention(composite: Any, model: nn.Module) -> None:
    """Warn (naming the layers) when ``composite`` has no attention rule and ``model`` attends."""
    if getattr(composite, "covers_attention", False):
        return
    layers = attention_layers(model)
    if not layers:
        return
    shown = ", ".join(f"{name or '<model>'} ({cls})" for name, cls in layers[:3])
    more = f" and {len(layers) - 3} more" if len(layers) > 3 else ""
    name = getattr(composite, "name", "") or type(composite).__name__
    warnings.warn(
        f"composite {name!r} has no rule for attention; uncovered attention layers: {shown}{more}; "
        "their relevance is the plain gradient. Use composite 'attn_lrp' or 'cp_lrp'",
        UncoveredAttentionWarning,
        stacklevel=3,
    )
