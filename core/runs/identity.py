"""What makes two runs the same run: canonical configurations, their hashes and differences, and
the digests of a model's parameters and of input files that go into them."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from typing import Any


def canonical_config(config: Mapping[str, Any]) -> dict[str, Any]:
    """``config`` as plain JSON values (tuples become lists), so stored and fresh ones compare."""
    return json.loads(json.dumps(config, sort_keys=True))


def config_hash(config: Mapping[str, Any]) -> str:
    """SHA-256 of the canonical JSON of ``config``."""
    text = json.dumps(canonical_config(config), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


def config_differences(stored: Mapping[str, Any], fresh: Mapping[str, Any]) -> list[str]:
    """The top-level keys whose values differ between two configurations."""
    keys = sorted(set(stored) | set(fresh))
    return [key for key in keys if stored.get(key) != fresh.get(key)]


def model_hash(model: Any) -> str:
    """SHA-256 over the model's parameters and buffers (names, dtypes, shapes, bytes)."""
    import torch

    digest = hashlib.sha256()
    for name, tensor in model.state_dict().items():
        digest.update(f"{name}:{tensor.dtype}:{tuple(tensor.shape)}".encode())
        digest.update(tensor.detach().cpu().contiguous().view(-1).view(torch.uint8).numpy())
    return digest.hexdigest()


def file_hash(path: str | os.PathLike[str] | None) -> str | None:
    """SHA-256 of a file's bytes (None for no file), e.g. the weights a run loaded."""
    if path is None:
        return None
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
