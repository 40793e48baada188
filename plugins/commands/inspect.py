"""``relscope inspect MODEL --composite NAME``: which rule each layer gets (and relevance sums)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from relscope.core import hookimpl
from relscope.core.cli.argument_types import parse_param
from relscope.core.errors import RelscopeError


class InspectUsageError(RelscopeError):
    """Bad arguments to ``relscope inspect``."""


def _shape(text: str) -> tuple[int, ...]:
    try:
        shape = tuple(int(part) for part in text.replace("x", ",").split(",") if part.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected sizes like 3,224,224, got {text!r}") from None
    if not shape or any(s <= 0 for s in shape):
        raise argparse.ArgumentTypeError(f"expected positive sizes like 3,224,224, got {text!r}")
    return shape


@hookimpl
def register_commands(subparsers: Any) -> None:
    """Declare ``relscope inspect``."""
    parser = subparsers.add_parser(
        "inspect",
        help="show which rule a composite gives each layer of a model",
        description="Print one line per leaf layer with the rule the composite attaches to it "
        "(or 'gradient' when none), warn about linear layers no rule covers, and optionally "
        "print per-layer relevance sums for one random input (a conservation check).",
    )
    parser.add_argument(
        "model", help="torchvision:<name>, package.module:factory, or a TorchScript file"
    )
    parser.add_argument(
        "--composite", required=True, help="composite name (relscope list composites)"
    )
    parser.add_argument(
        "--param",
        type=parse_param,
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="composite parameter, e.g. --param low=-3 --param high=3 (repeatable)",
    )
    parser.add_argument("--weights", type=Path, help="state dict to load (default: random weights)")
    parser.add_argument(
        "--input-shape",
        type=_shape,
        help="per-sample input shape, e.g. 3,224,224 (default: guessed from the first layer)",
    )
    parser.add_argument(
        "--relevance-sums",
        action="store_true",
        help="attribute one random input and print the relevance sum at each layer's output",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the random input (default 0)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Load the model, map the composite, print the table (and relevance sums)."""
    import torch

    from relscope.core.attribution import get_composite
    from relscope.core.attribution.layer_types import (
        Activation,
        AvgPool,
        BatchNorm,
        Dropout,
        Linear,
        MaxPool,
        Reshape,
        Summation,
    )
    from relscope.core.cli.table import format_table
    from relscope.core.model_loading import guess_input_shape, load_model_spec

    composite = get_composite(args.composite, **dict(args.param))
    loaded = load_model_spec(args.model, weights=args.weights)
    if loaded.torchscript:
        raise InspectUsageError(
            f"{args.model}: rules attach to Python layers; a TorchScript model cannot be inspected"
        )
    model = loaded.model
    shape = args.input_shape or guess_input_shape(model)
    if shape is None:
        raise InspectUsageError(f"{args.model}: cannot guess the input shape; pass --input-shape")
    generator = torch.Generator().manual_seed(args.seed)
    example = torch.randn(1, *shape, generator=generator)

    sums: dict[str, float] = {}
    handles = []
    input_sum: float | None = None
    with composite.context(model):
        try:
            if args.relevance_sums:
                for name, module in model.named_modules():
                    if next(module.children(), None) is not None:
                        continue

                    def hook(module: Any, inputs: Any, output: Any, name: str = name) -> None:
                        if isinstance(output, torch.Tensor) and output.requires_grad:
                            output.register_hook(
                                lambda grad, name=name: sums.__setitem__(name, float(grad.sum()))
                            )

                    handles.append(module.register_forward_hook(hook))
                leaf = example.clone().requires_grad_(True)
                output = model(leaf)
                target = torch.zeros_like(output)
                target[0, int(output[0].reshape(output.shape[1], -1).sum(1).argmax())] = 1.0
                (grad,) = torch.autograd.grad(output, leaf, grad_outputs=target)
                input_sum = float(grad.sum())
            else:
                with torch.no_grad():
                    model(example)
        except RelscopeError:
            raise
        except Exception as exc:
            raise InspectUsageError(
                f"{args.model}: running a random input of shape {tuple(shape)} failed "
                f"({type(exc).__name__}: {exc}); pass --input-shape"
            ) from None
        finally:
            for handle in handles:
                handle.remove()
        rules = {name: rule for name, _, rule in composite.attached()}

    known = Linear + Activation + AvgPool + MaxPool + BatchNorm + Reshape + Dropout + Summation
    rows = []
    uncovered_linear = []
    unknown = []
    covered_linear = 0
    for name, module in model.named_modules():
        if next(module.children(), None) is not None:
            continue
        rule = rules.get(name)
        text = rule.describe() if rule is not None else "gradient"
        row = [name, type(module).__name__, text]
        if args.relevance_sums:
            row.append("" if name not in sums else f"{sums[name]:.6g}")
        rows.append(row)
        if isinstance(module, Linear):
            if rule is None:
                uncovered_linear.append((name, type(module).__name__))
            else:
                covered_linear += 1
        elif rule is None and not isinstance(module, known):
            unknown.append((name, type(module).__name__))
    headers = ["layer", "type", "rule"] + (
        ["relevance sum at output"] if args.relevance_sums else []
    )
    print(f"model {args.model}, composite {args.composite}, input shape {tuple(shape)}")
    print(format_table(headers, rows))
    if input_sum is not None:
        print(f"relevance sum at the input: {input_sum:.6g} (output relevance: 1)")
    if covered_linear:
        for name, kind in uncovered_linear:
            print(f"warning: linear layer {name!r} ({kind}) gets no rule and keeps its gradient")
    for name, kind in unknown:
        print(
            f"warning: layer {name!r} ({kind}) gets no rule and is not a known gradient-only layer"
        )
    return 0
