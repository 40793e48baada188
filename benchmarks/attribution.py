"""Speed and peak memory of LRP composites against the plain gradient, side by side.

For torchvision vgg16 and resnet50 (random weights, eval mode, batch 8, 3 x 224 x 224,
``torch.set_num_threads(2)``) this prints the median (and min) of N timed runs, after one warm-up
run, of: a plain forward pass, forward + input gradient (``attribute`` without composite), and
``attribute`` with each LRP composite (the context is entered, modified weights are built, and the
rules are removed again inside every run); the ratio of each to the gradient; and the peak
resident memory. Each configuration runs in its own subprocess, so peak RSS (``ru_maxrss``, which
includes the model's weights and the Python/torch baseline) is measured for it alone.

    .venv/bin/python benchmarks/attribution.py                      # vgg16 and resnet50, 5 runs
    .venv/bin/python benchmarks/attribution.py --models vgg16 --runs 7
    .venv/bin/python benchmarks/attribution.py --composites epsilon_plus_flat epsilon_gamma_box

resnet50's residual additions and batch norms need canonizers; the composites take whatever the
``default_canonizers`` hook returns for the model (printed per model), and no canonizer when no
plugin knows it. Timings on a shared machine are noisy: compare ratios from one run only.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time

LRP_COMPOSITES = [
    "epsilon_plus",
    "epsilon_plus_flat",
    "epsilon_alpha2_beta1",
    "epsilon_alpha2_beta1_flat",
    "epsilon_gamma_box",
    "excitation_backprop",
]


def composite_params(name: str) -> dict:
    """Bounds of ImageNet-normalised pixels for z^B; nothing for the others."""
    if name != "epsilon_gamma_box":
        return {}
    import torch

    from relscope.core.model_loading import IMAGENET_MEAN, IMAGENET_STD

    mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    return {"low": (0 - mean) / std, "high": (1 - mean) / std}


def worker(model_name: str, config: str, runs: int, batch: int, threads: int) -> dict:
    """Time one configuration in this (fresh) process; return the figures as a dict."""
    import torch
    import torchvision

    from relscope.core.attribution import attribute, get_composite
    from relscope.core.plugin_manager import default_plugin_manager

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = torchvision.models.get_model(model_name, weights=None).eval()
    x = torch.randn(batch, 3, 224, 224)
    target = list(range(batch))
    rss_loaded = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

    if config == "forward":

        def once() -> None:
            with torch.no_grad():
                model(x)

    elif config == "gradient":

        def once() -> None:
            attribute(model, x, target=target)

    else:
        params = composite_params(config)

        def once() -> None:
            attribute(model, x, target=target, composite=get_composite(config, **params))

    canonizers = default_plugin_manager().hook.default_canonizers(model=model) or []
    once()  # warm-up: first-call costs (primitive selection, allocator growth)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        once()
        times.append(time.perf_counter() - start)
    return {
        "median": statistics.median(times),
        "min": min(times),
        "times": times,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "loaded_rss_mb": rss_loaded / 1024,
        "canonizers": [type(c).__name__ for c in canonizers],
    }


def run_config(model_name: str, config: str, args: argparse.Namespace) -> dict:
    """Run one configuration in a subprocess and parse its JSON line."""
    command = [
        sys.executable,
        __file__,
        "--worker",
        model_name,
        config,
        "--runs",
        str(args.runs),
        "--batch",
        str(args.batch),
        "--threads",
        str(args.threads),
    ]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{model_name}/{config} failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["vgg16", "resnet50"])
    parser.add_argument("--composites", nargs="+", default=LRP_COMPOSITES)
    parser.add_argument("--runs", type=int, default=5, help="timed runs per configuration (>= 5)")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--worker", nargs=2, metavar=("MODEL", "CONFIG"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(*args.worker, args.runs, args.batch, args.threads)))
        return

    print(
        f"batch {args.batch} x 3 x 224 x 224, torch threads {args.threads}, median of "
        f"{args.runs} runs after 1 warm-up, each configuration in its own process"
    )
    for model_name in args.models:
        results = {}
        for config in ["forward", "gradient", *args.composites]:
            results[config] = run_config(model_name, config, args)
            print(
                f"  ... {model_name} {config}: {results[config]['median']:.2f} s", file=sys.stderr
            )
        grad = results["gradient"]
        canonizers = results["gradient"]["canonizers"]
        print()
        print(
            f"{model_name} (default canonizers: {', '.join(canonizers) if canonizers else 'none'}; "
            f"RSS after loading the model: {grad['loaded_rss_mb']:.0f} MB)"
        )
        header = (
            f"{'configuration':28s} {'median s':>9s} {'min s':>8s} {'x gradient':>11s} "
            f"{'peak RSS MB':>12s} {'x gradient':>11s}"
        )
        print(header)
        print("-" * len(header))
        for config, figures in results.items():
            print(
                f"{config:28s} {figures['median']:9.2f} {figures['min']:8.2f} "
                f"{figures['median'] / grad['median']:11.2f} {figures['peak_rss_mb']:12.0f} "
                f"{figures['peak_rss_mb'] / grad['peak_rss_mb']:11.2f}"
            )


if __name__ == "__main__":
    main()
