"""Shared pieces of the canonizer tests: a full snapshot of a model to prove exact restoration."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn


def snapshot(model: nn.Module, x: torch.Tensor | None = None) -> dict[str, Any]:
    """Everything a canonizer may touch: state_dict keys/values/storages, parameter and buffer
    objects, each module's attribute names and registries, hooks, and the output for ``x``."""
    state = model.state_dict(keep_vars=True)
    snap: dict[str, Any] = {
        "keys": list(state),
        "values": {k: v.detach().clone() for k, v in state.items()},
        "storages": {k: v.data_ptr() for k, v in state.items()},
        "objects": {k: id(v) for k, v in state.items()},
        "modules": {
            name: (
                sorted(m.__dict__),
                list(m._modules),
                list(m._parameters),
                list(m._buffers),
                {k: id(v) for k, v in m.__dict__.items()},
                len(m._forward_hooks) + len(m._forward_pre_hooks) + len(m._backward_hooks),
            )
            for name, m in model.named_modules()
        },
        "training": {name: m.training for name, m in model.named_modules()},
    }
    if x is not None:
        with torch.no_grad():
            snap["output"] = model(x).clone()
        snap["input"] = x
    return snap


def assert_restored(model: nn.Module, before: dict[str, Any]) -> None:
    """``model`` is exactly as in ``before``: same objects, same bits, same outputs."""
    after = snapshot(model, before.get("input"))
    assert after["keys"] == before["keys"]
    for key, value in before["values"].items():
        now = after["values"][key]
        assert now.dtype == value.dtype and torch.equal(now, value), key
    assert after["storages"] == before["storages"]
    assert after["objects"] == before["objects"]
    assert after["modules"] == before["modules"]
    assert after["training"] == before["training"]
    if "output" in before:
        assert torch.equal(after["output"], before["output"])


def randomize_batchnorm(model: nn.Module, seed: int = 0) -> nn.Module:
    """Give every batch norm random statistics and affine parameters (as if trained)."""
    generator = torch.Generator().manual_seed(seed)
    for module in model.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            n = module.num_features
            module.running_mean.copy_(torch.rand(n, generator=generator) * 2 - 1)
            module.running_var.copy_(torch.rand(n, generator=generator) * 1.5 + 0.5)
            if module.weight is not None:
                module.weight.data.copy_(torch.rand(n, generator=generator) + 0.5)
                module.bias.data.copy_(torch.rand(n, generator=generator) - 0.5)
    return model
