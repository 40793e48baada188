"""Pixel flipping speed: relscope's batched engine against Quantus's PixelFlipping, side by side.

1. 256 digits at 32 x 32 (scikit-learn's bundled digits as the demo writes them), the demo CNN
   (seeded random weights), gradient attributions, 64 steps of 16 pixels, baseline 0: relscope's
   ``pixel_flipping`` and Quantus 0.6's ``PixelFlipping(features_in_step=16, perturb_baseline=0.0)``
   on the same inputs, interleaved, median of N runs each, for each torch thread count asked
   for; the curves are checked to agree. Both spend their time in the model's forward passes:
   relscope runs almost the same rows (it skips steps that change no element and runs the fully
   perturbed input, all zeros, once for all samples; the rows are printed) but in cache-sized
   chunks with channels-last convolutions, Quantus its whole batch per step. On a machine with
   more runnable processes than cores, extra OpenMP threads slow both sides (``--threads 1 2``).
2. torchvision vgg16 (random weights) at 224 x 224: the number of forward passes per sample that
   relscope runs for S steps (each pass holds many steps of many samples), against S.

    .venv/bin/python benchmarks/evaluation.py                 # both parts (vgg16 takes a while)
    .venv/bin/python benchmarks/evaluation.py --runs 5 --skip-vgg --threads 1 2
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import numpy as np
import torch

from relscope.core.evaluation.perturbation import DEFAULT_FORWARD_BATCH


def digits_batch(count: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The first ``count`` bundled digits at 32 x 32 in [0, 1], and their labels."""
    from relscope.plugins.demo.digits import digits_arrays

    images, labels = digits_arrays()
    x = torch.from_numpy(images[:count].astype(np.float32) / 255.0)
    return x, torch.from_numpy(labels[:count].astype(np.int64))


def load() -> str:
    """The machine's 1-minute load average, printed next to every figure."""
    return f"load {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"


def part_digits(runs: int, forward_batch: int, composite: str | None, threads: int) -> None:
    import quantus

    from relscope.core.attribution import attribute
    from relscope.core.evaluation import pixel_flipping
    from relscope.plugins.demo.model import small_cnn

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = small_cnn().eval()
    rows: list[int] = []
    model.register_forward_hook(lambda module, args, output: rows.append(args[0].shape[0]))
    x, y = digits_batch(256)
    a = attribute(model, x, target=y, composite=composite).detach()
    step = 32 * 32 // 64
    metric = quantus.PixelFlipping(
        features_in_step=step, perturb_baseline=0.0, normalise=False, disable_warnings=True
    )
    x_np, y_np, a_np = x.numpy(), y.numpy(), a.numpy()

    def ours() -> np.ndarray:
        return pixel_flipping(model, x, a, y, step=step, forward_batch=forward_batch)[:, 1:].numpy()

    def theirs() -> np.ndarray:
        scores = metric(
            model=model, x_batch=x_np, y_batch=y_np, a_batch=a_np, softmax=False, device="cpu",
            batch_size=256,
        )  # fmt: skip
        return np.asarray(scores)

    rows.clear()
    mine = ours()
    ours_rows, rows[:] = sum(rows), []
    difference = np.abs(mine - theirs()).max()  # warm-up round, and the agreement check
    theirs_rows = sum(rows)
    times: dict[str, list[float]] = {"relscope": [], "quantus": []}
    for _ in range(runs):
        for name, fn in (("relscope", ours), ("quantus", theirs)):
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    ours_s, theirs_s = (statistics.median(times[k]) for k in ("relscope", "quantus"))
    method = composite or "gradient"
    print(
        f"digits 256 x 1x32x32, 64 steps of {step} pixels, demo CNN, {method}, {runs} runs, "
        f"{threads} torch thread(s), {load()}:"
    )
    print(
        f"  relscope pixel_flipping (forward_batch {forward_batch}): {ours_s:8.3f} s, {ours_rows} rows"
    )
    print(
        f"  quantus PixelFlipping (batch_size 256):         {theirs_s:8.3f} s, {theirs_rows} rows"
    )
    print(f"  relscope / quantus = {ours_s / theirs_s:.3f}  (target <= 0.1)")
    print(f"  largest curve difference: {difference:.2e}")


def part_vgg(samples: int, steps: int, forward_batch: int) -> None:
    import torchvision

    from relscope.core.evaluation import pixel_flipping

    torch.manual_seed(0)
    model = torchvision.models.vgg16(weights=None).eval()
    calls: list[int] = []
    model.register_forward_hook(lambda module, args, output: calls.append(args[0].shape[0]))
    x = torch.rand(samples, 3, 224, 224)
    a = torch.randn(samples, 3, 224, 224)
    step = 224 * 224 // steps
    start = time.perf_counter()
    curves = pixel_flipping(model, x, a, 0, step=step, forward_batch=forward_batch)
    seconds = time.perf_counter() - start
    count = curves.shape[1] - 1
    print(f"vgg16 (random weights) 224x224, {samples} samples, S = {count} steps of {step} pixels:")
    print(
        f"  forward passes: {len(calls)} ({sum(calls)} rows), per sample {len(calls) / samples:.2f}"
    )
    print(f"  per sample <= S/16 = {count / 16:.2f}: {len(calls) / samples <= count / 16}")
    print(f"  time {seconds:.1f} s, {load()}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--forward-batch", type=int, default=DEFAULT_FORWARD_BATCH)
    parser.add_argument(
        "--threads", type=int, nargs="+", default=[1], help="torch thread counts to run both at"
    )
    parser.add_argument("--skip-vgg", action="store_true")
    parser.add_argument(
        "--composite", help="attribute with this composite instead of the plain gradient"
    )
    parser.add_argument("--vgg-samples", type=int, default=1)
    parser.add_argument("--vgg-steps", type=int, default=64)
    args = parser.parse_args()
    for threads in args.threads:
        part_digits(args.runs, args.forward_batch, args.composite, threads)
    if not args.skip_vgg:
        part_vgg(args.vgg_samples, args.vgg_steps, forward_batch=64)


if __name__ == "__main__":
    main()
