"""Attribute every torchvision classification model (random weights) and print a table.

For each model in ``torchvision.models.list_models(module=torchvision.models)``: build it with
``weights=None`` in eval mode (batch-norm statistics set from 4 random images, see
:func:`calibrate_batchnorm`), attribute one random input with ``epsilon_plus_flat`` and
``epsilon_gamma_box`` (default canonizers from the ``default_canonizers`` hook), and measure the
conservation of ``epsilon_plus`` with ``zero_params=("bias",)``: the input relevance sum divided
by the output relevance sum (1.0 = conserved). Unsupported models are listed with the reason.

    .venv/bin/python benchmarks/torchvision_zoo.py                    # all models, own input size
    .venv/bin/python benchmarks/torchvision_zoo.py --size 64 --models resnet18,vgg11
"""

from __future__ import annotations

import argparse
import gc
import sys
import time

import torch
import torchvision
from torchvision import models

from relscope.core.attribution import attribute, get_composite
from relscope.core.errors import UnsupportedModelError
from relscope.core.plugin_manager import default_plugin_manager

#: models that need an input size other than 224 (and the smallest that they accept)
OWN_SIZE = {"inception_v3": 299}
MIN_SIZE = {"inception_v3": 75}
#: builder arguments for models whose random-weight defaults build unused auxiliary heads
BUILD_ARGS = {
    "googlenet": {"aux_logits": False, "init_weights": False},
    "inception_v3": {"aux_logits": False, "init_weights": False},
}


def build(name: str, device: str | torch.device = "cpu") -> torch.nn.Module:
    """Model ``name`` with random weights, in eval mode."""
    with torch.device(device):
        return models.get_model(name, weights=None, **BUILD_ARGS.get(name, {})).eval()


def calibrate_batchnorm(model: torch.nn.Module, batch: torch.Tensor) -> None:
    """Set every batch norm's running statistics to those of ``batch`` (as if trained on it).

    Random-weight models keep their activations at a realistic scale this way; with torch's
    default statistics (mean 0, variance 1) the activations of deep random MobileNets shrink to
    ~1e-9, where the epsilon stabiliser (1e-6) absorbs all relevance.
    """
    norms = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    for norm in norms:
        norm.reset_running_stats()
        norm.momentum = None  # cumulative average: exactly this batch's statistics
        norm.train()
    with torch.no_grad():
        model(batch)
    model.eval()


def unsupported_reason(name: str) -> str | None:
    """The default canonizers' "not supported yet" message for ``name`` (None when supported)."""
    try:  # structure only: no memory, no initialisation cost
        model = build(name, device="meta")
    except NotImplementedError:  # a builder that computes with tensors (RegNet)
        model = build(name)
    try:
        default_plugin_manager().hook.default_canonizers(model=model)
    except UnsupportedModelError as exc:
        return str(exc)
    return None


def run_model(name: str, size: int | None, batch: int) -> dict[str, object]:
    """Attribute model ``name``; a row of the table."""
    row: dict[str, object] = {"model": name}
    reason = unsupported_reason(name)
    if reason is not None:
        row["status"] = "unsupported"
        row["note"] = reason
        return row
    side = size or OWN_SIZE.get(name, 224)
    side = max(side, MIN_SIZE.get(name, 0))
    torch.manual_seed(0)
    start = time.perf_counter()
    model = build(name)
    row["build_s"] = time.perf_counter() - start
    calibrate_batchnorm(model, torch.randn(4, 3, side, side))
    row["params_m"] = sum(p.numel() for p in model.parameters()) / 1e6
    row["size"] = side
    x = torch.randn(batch, 3, side, side)
    target = 0
    try:
        for composite, params in (
            ("epsilon_plus_flat", {}),
            ("epsilon_gamma_box", {"low": -3.0, "high": 3.0}),
        ):
            start = time.perf_counter()
            relevance = attribute(
                model, x, target=target, composite=get_composite(composite, **params)
            )
            row[composite] = time.perf_counter() - start
            if not torch.isfinite(relevance).all():
                raise RuntimeError(f"{composite}: relevance is not finite")
        composite = get_composite("epsilon_plus", zero_params=("bias",))
        relevance = attribute(model, x, target=target, composite=composite)
        row["conservation"] = float(relevance.double().flatten(1).sum(1).mean())  # output sums to 1
        row["status"] = "ok"
    except Exception as exc:  # the table reports failures instead of stopping
        row["status"] = "error"
        row["note"] = f"{type(exc).__name__}: {exc}".splitlines()[0]
    return row


def main(argv: list[str] | None = None) -> int:
    """Run the zoo and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=None, help="input side (default: model's own)")
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--models", default="", help="comma-separated names (default: all)")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    names = models.list_models(module=models)
    if args.models:
        wanted = args.models.split(",")
        unknown = sorted(set(wanted) - set(names))
        if unknown:
            parser.error(f"unknown models: {', '.join(unknown)}")
        names = [n for n in names if n in wanted]
    print(
        f"torch {torch.__version__}, torchvision {torchvision.__version__}, "
        f"{torch.get_num_threads()} threads, batch {args.batch}",
        flush=True,
    )
    header = (
        f"{'model':<20} {'status':<11} {'Mparams':>8} {'size':>5} {'eps+flat s':>10} "
        f"{'epsgbox s':>10} {'sum R_in/R_out':>14}  note"
    )
    print(header)
    print("-" * len(header), flush=True)
    failures = 0
    for name in names:
        row = run_model(name, args.size, args.batch)
        failures += row["status"] == "error"

        def num(key: str, fmt: str, row: dict[str, object] = row) -> str:
            value = row.get(key)
            return format(value, fmt) if isinstance(value, (int, float)) else "-"

        print(
            f"{name:<20} {row['status']:<11} {num('params_m', '8.1f')} {num('size', '5d')} "
            f"{num('epsilon_plus_flat', '10.2f')} {num('epsilon_gamma_box', '10.2f')} "
            f"{num('conservation', '14.4f')}  {row.get('note', '')}",
            flush=True,
        )
        gc.collect()
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
