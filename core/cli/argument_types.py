"""Argument types the commands share: ``KEY=VALUE`` parameters, positive integers, sizes, targets.

Each raises ``argparse.ArgumentTypeError`` with what was expected, so argparse prints one line.
"""

from __future__ import annotations

import argparse
from typing import Any

#: --target values besides a class index (next-token: causal language models on token data)
TARGETS = ("label", "prediction", "next-token")


def parse_param(text: str) -> tuple[str, Any]:
    """``KEY=VALUE`` with VALUE read as YAML (numbers, booleans, lists), else kept as a string."""
    import yaml

    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    try:
        value = yaml.safe_load(raw)
    except yaml.YAMLError:
        value = raw
    return key.strip(), value


def positive_int(text: str) -> int:
    """A positive integer."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def image_size(text: str) -> tuple[int, int]:
    """``WIDTHxHEIGHT`` as (width, height)."""
    try:
        width, height = (int(part) for part in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected WIDTHxHEIGHT, e.g. 224x224, got {text!r}"
        ) from None
    if width <= 0 or height <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive size, got {text!r}")
    return width, height


def target(text: str) -> str | int:
    """``label``, ``prediction``, ``next-token`` or a class index >= 0."""
    if text in TARGETS:
        return text
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected label, prediction, next-token or a class index, got {text!r}"
        ) from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"a class index must be >= 0, got {value}")
    return value
