"""Which modules are element-wise activation functions, wherever they come from.

torch's own activation layers, Hugging Face's ``transformers.activations`` (what ``ACT2FN[...]``
returns, e.g. ``NewGELUActivation`` written as a tanh formula), timm's activation layers, and any
parameter-free leaf module whose class name says GELU/SiLU/Swish/Mish. The whole module is one
element-wise function, so a rule on it sees through formulas such as ``0.5 * x * (1 + tanh(...))``.
"""

from __future__ import annotations

from torch import nn

from relscope.core.attribution.layer_types import Activation

_ACTIVATION_PACKAGES = ("transformers.activations", "timm.layers.activations")
_ACTIVATION_WORDS = ("gelu", "silu", "swish", "mish", "sigmoid", "tanh", "softplus")


def is_activation_module(module: nn.Module) -> bool:
    """True for a module that applies one element-wise non-linearity to its input."""
    if isinstance(module, Activation):
        return True
    if any(True for _ in module.children()) or any(True for _ in module.parameters()):
        return False
    cls = type(module)
    if (cls.__module__ or "").startswith(_ACTIVATION_PACKAGES):
        return True
    name = cls.__name__.lower()
    return any(word in name for word in _ACTIVATION_WORDS)
