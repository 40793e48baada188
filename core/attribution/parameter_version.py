"""What identifies a layer's parameters as they are now: weights derived from them (modified
blocks, |W|, bound terms) are cached under it and built again once the parameters change."""

from __future__ import annotations

from typing import Any


def parameter_version(op: Any) -> tuple:
    """The weight's and bias's storage and in-place version counters, and the weight's dtype."""
    weight, bias = op.weight, op.bias
    return (
        weight.data_ptr(),
        weight._version,
        weight.dtype,
        None if bias is None else (bias.data_ptr(), bias._version),
    )
