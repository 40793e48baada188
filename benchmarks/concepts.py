"""Concepts (CRP): 32 conditional heatmaps on vgg11 against zennit-crp, and ``relscope concepts``
at data-set scale.

``--part heatmaps`` (default): 32 conditional (CRP) heatmaps on vgg11, relscope against
zennit-crp, side by side.

torchvision vgg11 (random weights, eval), a batch of 2 images 3 x 224 x 224, 32 conditions (one
channel of ``features.13`` each, the target class of each sample): relscope's
``attribute(..., conditions=[...])`` and zennit-crp's ``CondAttribution`` with zennit's
``EpsilonPlusFlat`` (+ ``VGGCanonizer``) compute the same 64 heatmaps (printed: their largest
difference relative to the largest value). Both run the conditions in chunks of ``--chunk``
conditions per batch (memory), one warm-up round, then ``--runs`` timed rounds interleaved
(load on a shared machine hits both alike); prints medians and the ratio relscope / zennit-crp.

    .venv/bin/python benchmarks/concepts.py                 # needs zennit 1.0.0 + zennit-crp 0.6.0
    .venv/bin/python benchmarks/concepts.py --runs 5 --chunk 32 --threads 2

``--part dataset``: ``relscope concepts`` (the CLI, in a fresh process per size) on the demo's
digits tiled to N = 2,000 and 10,000 samples (``--sizes``), the demo's CNN and both its concept
layers (``3`` and ``6``, the demo's options: epsilon_plus_flat, batch 128, top-k 8), on
``--threads`` threads. With ``--demo-dir`` (a finished ``relscope demo --out DIR``) the demo's
own input.h5 and model.pt, otherwise the bundled digits and seeded random weights (the time does
not depend on the weights). Prints wall time and peak RSS per N and their ratios: the time should
grow like N, the memory not (it is bounded by the top-k buffers and one batch).

    .venv/bin/python benchmarks/concepts.py --part dataset --threads 2
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

#: run in a fresh interpreter: the CLI on the given argv, then this process's peak RSS (KiB)
_MEASURED = """
import resource, sys, time, torch
torch.set_num_threads(int(sys.argv[1]))
from relscope.core.cli.main import main
start = time.perf_counter()
code = main(sys.argv[2:])
wall = time.perf_counter() - start
usage = resource.getrusage(resource.RUSAGE_SELF)
cpu = usage.ru_utime + usage.ru_stime
print(f"MEASURED {code} {wall:.3f} {usage.ru_maxrss} {cpu:.3f}")
"""


def _tiled_input(path: Path, count: int, demo_dir: Path | None) -> Path:
    """An input file of ``count`` samples: the demo's (or the bundled) digits, repeated."""
    import h5py
    import numpy as np

    if demo_dir is not None:
        with h5py.File(demo_dir / "input.h5", "r") as file:
            images, labels = file["data"][()], file["label"][()]
    else:
        from relscope.plugins.demo.digits import digits_arrays

        images, labels = digits_arrays()
    rows = np.arange(count) % len(images)
    with h5py.File(path, "w") as file:
        file.create_dataset("data", data=images[rows], chunks=(256, *images.shape[1:]))
        file.create_dataset("label", data=labels[rows])
    return path


def _load() -> str:
    """The 1/5/15-minute load averages (the machine may be shared)."""
    import os

    return " ".join(f"{value:.1f}" for value in os.getloadavg())


def dataset_run(args: argparse.Namespace) -> None:
    """``relscope concepts`` at each size, one fresh process each; wall time and peak RSS."""
    import os
    import subprocess
    import sys
    import tempfile

    weights = ["--random-weights"]
    if args.demo_dir is not None:
        weights = ["--weights", str(args.demo_dir / "model.pt")]
    results = {}
    with tempfile.TemporaryDirectory() as folder:
        for count in args.sizes:
            data = _tiled_input(Path(folder) / f"input-{count}.h5", count, args.demo_dir)
            out = Path(folder) / f"concepts-{count}.h5"
            argv = ["concepts", "--model", "relscope.plugins.demo.model:small_cnn", *weights,
                    "--data", str(data), "--composite", "epsilon_plus_flat",
                    "--layer", "3", "--layer", "6", "--batch-size", "128", "--workers", "0",
                    "--top-k", "8", "--out", str(out), "--quiet"]  # fmt: skip
            env = {**os.environ, "OMP_NUM_THREADS": str(args.threads)}
            done = subprocess.run(
                [sys.executable, "-c", _MEASURED, str(args.threads), *argv],
                capture_output=True, text=True, env=env, check=False,
            )  # fmt: skip
            line = next((x for x in done.stdout.splitlines() if x.startswith("MEASURED")), None)
            if done.returncode or line is None:
                raise SystemExit(f"N={count}: failed\n{done.stderr[-2000:]}")
            _, code, wall, rss, cpu = line.split()
            results[count] = (float(wall), int(rss) / 1024)
            print(f"N={count:>6}: {float(wall):6.1f} s wall, {float(cpu):6.1f} s CPU (all threads, "
                  f"whole process), peak RSS {int(rss) / 1024:6.0f} MiB, "
                  f"{out.stat().st_size / 2**20:.1f} MiB file; load: {_load()}")  # fmt: skip
    (small, (t0, m0)), (large, (t1, m1)) = sorted(results.items())[0], sorted(results.items())[-1]
    print(f"N x{large / small:.1f}: wall time x{t1 / t0:.2f}, peak RSS x{m1 / m0:.2f} "
          f"({args.threads} threads, {os.cpu_count()} cores)")  # fmt: skip


def main() -> None:
    """Parse options and run the chosen part."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=("heatmaps", "dataset"), default="heatmaps")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--chunk", type=int, default=8, help="conditions per batch")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--layer", default="features.13")
    parser.add_argument("--sizes", type=int, nargs="+", default=[2000, 10000])
    parser.add_argument("--demo-dir", type=Path, help="a finished demo: its input.h5, model.pt")
    args = parser.parse_args()
    if args.part == "dataset":
        dataset_run(args)
    else:
        heatmaps(args)


def heatmaps(args: argparse.Namespace) -> None:
    """Build both sides, time them interleaved and print the ratio."""
    import torch
    import torchvision
    from crp.attribution import CondAttribution
    from zennit.composites import EpsilonPlusFlat
    from zennit.torchvision import VGGCanonizer

    from relscope.core import attribute

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = torchvision.models.vgg11(weights=None).eval()
    x = torch.randn(2, 3, args.size, args.size)
    target = [1, 2]
    channels = list(range(0, 512, 16))  # 32 channels
    chunks = [channels[i : i + args.chunk] for i in range(0, len(channels), args.chunk)]

    def logit(out: torch.Tensor) -> torch.Tensor:
        classes = torch.tensor(target).repeat(out.shape[0] // len(target))
        return torch.nn.functional.one_hot(classes, out.shape[1]).to(out) * out

    def run_relscope() -> torch.Tensor:
        maps = []
        for chunk in chunks:
            parts = attribute(
                model,
                x,
                target=logit,
                composite="epsilon_plus_flat",
                conditions=[{args.layer: [c]} for c in chunk],
            )
            maps.extend(p.sum(1) for p in parts)
        return torch.stack(maps, dim=1)  # (2, 32, H, W)

    crp = CondAttribution(model, no_param_grad=True)
    composite = EpsilonPlusFlat(canonizers=[VGGCanonizer()])

    def run_crp() -> torch.Tensor:
        maps = []
        for chunk in chunks:
            data = x.repeat_interleave(len(chunk), 0).requires_grad_(True)
            conds = [{"y": [t], args.layer: [c]} for t in target for c in chunk]
            heat = crp(data, conds, composite).heatmap
            maps.append(heat.reshape(2, len(chunk), *heat.shape[1:]))
        return torch.cat(maps, dim=1)

    ours, ref = run_relscope(), run_crp()  # warm-up, and the comparison
    scale = ref.abs().max().item()
    print(
        f"max |relscope - zennit-crp| / max |zennit-crp| = {(ours - ref).abs().max() / scale:.2e}"
    )
    times: dict[str, list[float]] = {"relscope": [], "zennit-crp": []}
    for _ in range(args.runs):
        for name, fn in (("relscope", run_relscope), ("zennit-crp", run_crp)):
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    med = {name: statistics.median(values) for name, values in times.items()}
    for name, values in times.items():
        print(f"{name:>10}: median {med[name]:.2f} s  min {min(values):.2f} s  ({args.runs} runs)")
    print(f"ratio relscope / zennit-crp = {med['relscope'] / med['zennit-crp']:.2f}")


if __name__ == "__main__":
    main()
