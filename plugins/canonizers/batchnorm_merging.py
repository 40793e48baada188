"""Batch-norm merging: fold each eval-mode batch norm into the linear layer next to it.

A batch norm in eval mode is an affine map per channel, ``y = s * x + t``. Right after a linear
layer (Linear, Conv, ConvTranspose) it folds into that layer's weights and bias; right before one it
folds into the weights of the next layer (exact for Linear and unpadded convolutions). Which layer
is next to which is read from a torch.fx trace of the forward, i.e. the order in which layers run,
not the order in which they are defined. The merged batch norm stays in the model as an exact
identity (weight 1, bias 0, mean 0 and a variance that makes ``sqrt(var + eps) == 1`` bit for
bit), because torch refuses ``eps = 0``, and its forward returns the input itself while merged
(:func:`~relscope.core.attribution.canonizer.exact_identity`): no pass over the activations.
"""

from __future__ import annotations

import functools

import torch
import torch.fx as fx
import torch.nn.functional as F
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from relscope.core.attribution.canonizer import Canonizer, exact_identity
from relscope.core.attribution.model_graph import ModelGraph, trace_model

_CONVOLUTIONS = (nn.Conv1d, nn.Conv2d, nn.Conv3d)
_TRANSPOSED = (nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)


@functools.lru_cache(maxsize=64)
def identity_variance(eps: float, dtype: torch.dtype, device: str) -> float:
    """A running variance for which this dtype's batch norm computes ``x / sqrt(var + eps) == x``.

    Starts from ``1 - eps`` and walks a few representable values either way, checking with torch's
    own batch norm on a probe of varied magnitudes; falls back to ``1 - eps`` (error ~1 ulp).
    """
    probe = torch.tensor([[1.0, -3.0, 0.1, 12345.678, -7.5e-3, 3.1e5, 2.0**-10]], dtype=dtype)
    probe = probe.to(device).reshape(1, 1, -1)
    start = torch.tensor(1.0 - eps, dtype=dtype, device=device)
    for step in range(33):
        offset = (step + 1) // 2 * (1 if step % 2 else -1)
        candidate = start
        direction = torch.tensor(float("inf") if offset > 0 else float("-inf"), dtype=dtype)
        for _ in range(abs(offset)):
            candidate = torch.nextafter(candidate, direction.to(device))
        var = candidate.reshape(1)
        out = F.batch_norm(probe, torch.zeros_like(var), var, None, None, False, 0.0, eps)
        if torch.equal(out, probe):
            return float(candidate)
    return 1.0 - eps


def _sqrt(values: torch.Tensor) -> torch.Tensor:
    """Correctly rounded square root of a small float64 vector.

    On the CPU through numpy: torch's float64 ``sqrt`` enters a parallel region even for a few
    values, which on a busy machine waited milliseconds per batch norm (a third of a second for
    resnet50's 53 at load 3); both are IEEE square roots, so the values are the same.
    """
    if values.device.type != "cpu":
        return torch.sqrt(values)
    import numpy as np

    return torch.from_numpy(np.sqrt(values.numpy()))


def _scale_shift(bn: _BatchNorm) -> tuple[torch.Tensor, torch.Tensor]:
    """The eval-mode batch norm as ``y = s * x + t`` per channel, in float64."""
    var = bn.running_var.detach().double()
    mean = bn.running_mean.detach().double()
    scale = 1.0 / _sqrt(var + bn.eps)
    if bn.weight is not None:
        scale = scale * bn.weight.detach().double()
    shift = -mean * scale
    if bn.bias is not None:
        shift = shift + bn.bias.detach().double()
    return scale, shift


def _why_not_affine(bn: _BatchNorm) -> str | None:
    """Why ``bn`` is not a fixed per-channel affine map right now (None when it is)."""
    if bn.training:
        return "in training mode (uses batch statistics); call model.eval()"
    if not bn.track_running_stats or bn.running_mean is None or bn.running_var is None:
        return "has no running statistics (track_running_stats=False)"
    if isinstance(bn.running_mean, nn.parameter.UninitializedBuffer):
        return "is a lazy batch norm that has not run yet"
    return None


def _out_channels(layer: nn.Module) -> int:
    return layer.out_features if isinstance(layer, nn.Linear) else layer.out_channels


def _in_channels(layer: nn.Module) -> int:
    return layer.in_features if isinstance(layer, nn.Linear) else layer.in_channels


def _padding_free(conv: nn.Module) -> bool:
    """True when a convolution never reads padded zeros (or pads by copying values)."""
    if conv.padding_mode != "zeros":
        return True
    if isinstance(conv.padding, str):
        return conv.padding == "valid" or all(
            d * (k - 1) == 0 for d, k in zip(conv.dilation, conv.kernel_size, strict=True)
        )
    return all(p == 0 for p in conv.padding)


class MergeBatchNorm(Canonizer):
    """Fold eval-mode batch norms into the adjacent linear layer, found from the traced run order.

    After :meth:`register`, :attr:`merged` lists ``(batch_norm, layer, "after"|"before")`` and
    :attr:`unmerged` maps each batch norm left in place to the reason (e.g. a ReLU in between).
    """

    name = "merge_batchnorm"

    def __init__(self) -> None:
        super().__init__()
        self.merged: list[tuple[str, str, str]] = []
        self.unmerged: dict[str, str] = {}

    def copy(self) -> MergeBatchNorm:
        """A fresh, unregistered instance."""
        return type(self)()

    def register(self, model: nn.Module) -> None:
        """Trace ``model`` and merge every batch norm that sits next to a linear layer."""
        self.merged, self.unmerged = [], {}
        if not any(isinstance(module, _BatchNorm) for module in model.modules()):
            return
        try:
            self._merge_all(model)
        except BaseException:
            self.remove()
            raise

    # -- finding pairs ----------------------------------------------------------------------------
    def _merge_all(self, model: nn.Module) -> None:
        graph = trace_model(model, context=self.name)
        calls = graph.module_calls()
        batch_norms = [
            name for name, module in model.named_modules() if isinstance(module, _BatchNorm)
        ]
        before: list[tuple[str, str]] = []
        for bn_name in batch_norms:
            bn = model.get_submodule(bn_name)
            reason = _why_not_affine(bn)
            if reason is None and bn_name not in calls:
                reason = next(
                    (
                        f"inside {name}, whose forward cannot be traced ({why})"
                        for name, why in graph.opaque.items()
                        if bn_name.startswith(name + ".")
                    ),
                    "never called by the model's forward",
                )
            if reason is not None:
                self.unmerged[bn_name] = reason
                continue
            producer = self._producer(graph, calls, bn_name)
            if producer is not None:
                self._merge_after(model.get_submodule(producer), bn)
                self.merged.append((bn_name, producer, "after"))
                continue
            consumer = self._consumer(graph, calls, bn_name)
            if isinstance(consumer, str):
                before.append((bn_name, consumer))
            else:
                self.unmerged[bn_name] = consumer[0]
        for bn_name, consumer in before:  # after all "after" merges: they compose correctly
            self._merge_before(model.get_submodule(consumer), model.get_submodule(bn_name))
            self.merged.append((bn_name, consumer, "before"))

    @staticmethod
    def _producer(graph: ModelGraph, calls: dict[str, list[fx.Node]], bn_name: str) -> str | None:
        """The linear layer whose output every call of ``bn_name`` normalises, if it is its only use."""
        sources = set()
        for node in calls[bn_name]:
            source = node.args[0] if node.args else None
            if not isinstance(source, fx.Node) or source.op != "call_module":
                return None
            sources.add(str(source.target))
        if len(sources) != 1:
            return None
        (name,) = sources
        layer = graph.root.get_submodule(name)
        bn = graph.root.get_submodule(bn_name)
        if not isinstance(layer, (nn.Linear, *_CONVOLUTIONS, *_TRANSPOSED)):
            return None
        if _out_channels(layer) != bn.num_features:
            return None
        for node in calls[name]:  # every output of the layer goes to this batch norm only
            if [str(user.target) for user in node.users] != [bn_name] or len(node.users) != 1:
                return None
        return name

    @staticmethod
    def _consumer(
        graph: ModelGraph, calls: dict[str, list[fx.Node]], bn_name: str
    ) -> str | tuple[str]:
        """The linear layer that alone reads every output of ``bn_name``, or ``(reason,)``."""
        users: set[fx.Node] = set()
        for node in calls[bn_name]:
            users.update(node.users)
        targets = {
            str(u.target)
            if u.op == "call_module"
            else f"{getattr(u.target, '__name__', u.target)}()"
            if u.op in ("call_function", "call_method")
            else u.op
            for u in users
        }
        if len(targets) != 1:
            found = ", ".join(sorted(targets)) or "nothing"
            return (f"not next to a linear layer (its output goes to: {found})",)
        (name,) = targets
        layer = graph.root.get_submodule(name) if name in calls else None
        bn = graph.root.get_submodule(bn_name)
        if not isinstance(layer, (nn.Linear, *_CONVOLUTIONS)):
            what = f"{name}: {type(layer).__name__}" if layer is not None else name
            return (f"not next to a linear layer (followed by {what})",)
        if _in_channels(layer) != bn.num_features:
            return (f"followed by {name} with {_in_channels(layer)} input channels",)
        if isinstance(layer, _CONVOLUTIONS) and not _padding_free(layer):
            return (f"followed by {name}, which pads with zeros (a shift cannot move across)",)
        for node in calls[name]:
            source = node.args[0] if node.args else None
            if not isinstance(source, fx.Node) or str(source.target) != bn_name:
                return (f"{name} also reads inputs that do not come from {bn_name}",)
        return name

    # -- merging ----------------------------------------------------------------------------------
    def _set_bias(self, layer: nn.Module, bias: torch.Tensor) -> None:
        weight = layer.weight
        bias = bias.to(dtype=weight.dtype, device=weight.device)
        if layer.bias is None:
            self.set_attribute(
                layer, "bias", nn.Parameter(bias, requires_grad=weight.requires_grad)
            )
        else:
            self.set_tensor_data(layer.bias, bias)

    def _merge_after(self, layer: nn.Module, bn: _BatchNorm) -> None:
        scale, shift = _scale_shift(bn)
        # per-channel factors in float64, the weight-sized product in one pass of its own dtype
        # (the scale rounded once: within a unit in the last place of the float64 product)
        weight = layer.weight.detach()
        factor = scale.to(weight.dtype)
        out = scale.numel()
        bias = torch.zeros(out, dtype=torch.float64, device=weight.device)
        if layer.bias is not None:
            bias = layer.bias.detach().double()
        if isinstance(layer, _TRANSPOSED):  # weight: (in, out / groups, *kernel)
            groups = layer.groups
            grouped = weight.reshape(groups, weight.shape[0] // groups, *weight.shape[1:])
            factor = factor.reshape(groups, 1, out // groups, *([1] * (weight.dim() - 2)))
            new_weight = (grouped * factor).reshape(weight.shape)
        else:  # weight: (out, ...)
            new_weight = weight * factor.reshape(out, *([1] * (weight.dim() - 1)))
        self.set_tensor_data(layer.weight, new_weight)
        self._set_bias(layer, bias * scale + shift)
        self._make_identity(bn)

    def _merge_before(self, layer: nn.Module, bn: _BatchNorm) -> None:
        scale, shift = _scale_shift(bn)
        weight = layer.weight.detach().double()
        out = weight.shape[0]
        bias = torch.zeros(out, dtype=torch.float64, device=weight.device)
        if layer.bias is not None:
            bias = layer.bias.detach().double()
        groups = getattr(layer, "groups", 1)
        per_group = weight.shape[1]  # input channels of each output's group
        group_of_output = torch.arange(out, device=weight.device) // (out // groups)
        scale_in = scale.reshape(groups, per_group)[group_of_output]  # (out, in / groups)
        shift_in = shift.reshape(groups, per_group)[group_of_output]
        spatial = [1] * (weight.dim() - 2)
        new_weight = weight * scale_in.reshape(out, per_group, *spatial)
        new_bias = bias + (weight * shift_in.reshape(out, per_group, *spatial)).flatten(1).sum(1)
        self.set_tensor_data(layer.weight, new_weight.to(layer.weight.dtype))
        self._set_bias(layer, new_bias)
        self._make_identity(bn)

    def _make_identity(self, bn: _BatchNorm) -> None:
        """Turn ``bn`` into an exact identity (restored by :meth:`remove`)."""
        if bn.weight is not None:
            self.set_tensor_data(bn.weight, torch.ones_like(bn.weight.data))
        if bn.bias is not None:
            self.set_tensor_data(bn.bias, torch.zeros_like(bn.bias.data))
        var = identity_variance(float(bn.eps), bn.running_var.dtype, str(bn.running_var.device))
        self.set_tensor_data(bn.running_mean, torch.zeros_like(bn.running_mean))
        self.set_tensor_data(bn.running_var, torch.full_like(bn.running_var, var))
        if "forward" not in bn.__dict__:  # a forward set by someone else stays theirs
            self.set_attribute(bn, "forward", exact_identity)
