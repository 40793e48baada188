"""Throughput of ``relscope attribute``'s loop (DataLoader workers, batches, partial files, final
HDF5) with an LRP composite, next to plain gradients through the very same loop.

Three workloads: the builtin digits (1797 x 1 x 32 x 32) on the demo's SmallCNN, N random
3 x 224 x 224 images (default 512) on torchvision's vgg16 (random weights), and the text demo's
reviews (600 x 14 tokens) on its tiny BERT classifier with ``attn_lrp`` (the token job: embed,
attribute under the mask, sum per token; random weights of the demo's config). For each it prints
samples/s with the composite, samples/s with plain gradients, and their ratio, measured side by
side in one process. A third column gives the same model's plain-gradient samples/s in memory
(no loading or writing) to show what the loop itself costs. The last column is the ratio of the
two loops' CPU time of this process (all threads): on a shared machine, where other processes take
the cores at times, it is the steadier measure of the work each loop does.

    .venv/bin/python benchmarks/attribute_dataset.py                       # full sizes
    .venv/bin/python benchmarks/attribute_dataset.py --vgg-count 32 --device cuda
    .venv/bin/python benchmarks/attribute_dataset.py --skip-vgg --skip-digits   # text only
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import h5py
import numpy as np
import torch
import torchvision

from relscope.core.attribution import get_attributor, get_composite
from relscope.core.data.inputs import Hdf5Inputs
from relscope.core.model_loading import IMAGENET_MEAN, IMAGENET_STD
from relscope.core.runs.attribution_run import Preprocessing, attribute_dataset
from relscope.plugins.demo.digits import write_digits
from relscope.plugins.demo.model import SmallCNN


def loop_rate(model, inputs, folder, composite, preprocessing, args, count, job=None):
    """(wall, CPU) samples/s of one full attribute_dataset run (load, attribute, store, assemble)."""
    attributor = get_attributor("gradient", model=model, composite=composite)
    out = Path(folder) / f"bench-{time.monotonic_ns()}.h5"
    start, cpu = time.perf_counter(), time.process_time()
    attribute_dataset(
        attributor,
        inputs,
        out,
        {"benchmark": True},
        indices=range(count),
        preprocessing=preprocessing,
        target="label",
        batch_size=args.batch_size,
        device=args.device,
        workers=args.workers,
        progress=False,
        job_class=job,
    )
    if args.device.startswith("cuda"):
        torch.cuda.synchronize()
    seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu
    out.unlink()
    return count / seconds, count / cpu_seconds


def memory_rate(model, inputs, preprocessing, args, count) -> float:
    """Samples/s of plain gradients on batches already in memory (no loader, no files)."""
    images = torch.stack(
        [preprocessing.normalise(torch.from_numpy(inputs.image(i).transpose(2, 0, 1).copy()))
         for i in range(count)]
    ).to(args.device)  # fmt: skip
    labels = [inputs.labels(i)[0] for i in range(count)]
    attributor = get_attributor("gradient", model=model)
    start = time.perf_counter()
    for first in range(0, count, args.batch_size):
        attributor(images[first : first + args.batch_size], labels[first : first + args.batch_size])
    if args.device.startswith("cuda"):
        torch.cuda.synchronize()
    return count / (time.perf_counter() - start)


def workload(name, model, inputs, composite_name, composite_params, preprocessing, args, count):
    """Measure and print one row."""
    model = model.to(args.device).eval()
    with tempfile.TemporaryDirectory() as folder:
        # warm-up batch so one-off costs (allocations, tracing) are not timed
        loop_rate(model, inputs, folder, None, preprocessing, args, min(count, args.batch_size))
        lrp, lrp_cpu = loop_rate(
            model,
            inputs,
            folder,
            get_composite(composite_name, **composite_params),
            preprocessing,
            args,
            count,
        )
        plain, plain_cpu = loop_rate(model, inputs, folder, None, preprocessing, args, count)
    raw = memory_rate(model, inputs, preprocessing, args, count)
    print(
        f"{name:<28} {composite_name:<18} {lrp:>10.1f} {plain:>12.1f} {lrp / plain:>8.2f} "
        f"{raw:>14.1f} {lrp_cpu / plain_cpu:>10.2f}",
        flush=True,
    )


def text_workload(folder: Path, args) -> None:
    """The text demo's reviews on its tiny BERT: attn_lrp and plain gradients in the token job."""
    from relscope.core.data.tokens import TokenInputs
    from relscope.core.runs.token_attribution import TokenAttributionJob, TokenLogits
    from relscope.plugins.demo.reviews import LENGTH, build_reviews, write_reviews
    from relscope.plugins.demo.text_model import tiny_bert

    reviews = build_reviews(args.text_count)
    write_reviews(reviews, folder / "reviews.h5")
    inputs = TokenInputs(folder / "reviews.h5")
    model = TokenLogits(tiny_bert(len(reviews.tokens), LENGTH), causal_lm=False)
    model = model.to(args.device).eval()
    count, job = len(inputs), TokenAttributionJob
    rates = {"attn_lrp": 0.0, "gradient": 0.0}
    cpu_rates = dict(rates)
    loop_rate(model, inputs, folder, None, Preprocessing(), args, args.batch_size, job)  # warm-up
    for _ in range(args.repeats):  # alternated, best of each: a shared machine's load drifts
        for name, composite in (("attn_lrp", get_composite("attn_lrp")), ("gradient", None)):
            rate, cpu = loop_rate(
                model, inputs, folder, composite, Preprocessing(), args, count, job
            )
            rates[name] = max(rates[name], rate)
            cpu_rates[name] = max(cpu_rates[name], cpu)
    ids = torch.from_numpy(reviews.input_ids).to(args.device)
    mask = torch.from_numpy(reviews.attention_mask.astype(np.int64)).to(args.device)
    attributor = get_attributor("gradient", model=model)
    raw = 0.0
    for _ in range(args.repeats):
        start = time.perf_counter()
        for first in range(0, count, args.batch_size):
            model.attention_mask = mask[first : first + args.batch_size]
            with torch.no_grad():
                embedded = model.embeddings()(ids[first : first + args.batch_size])
            attributor(embedded, reviews.label[first : first + args.batch_size].tolist())
        raw = max(raw, count / (time.perf_counter() - start))
    ratio = rates["attn_lrp"] / rates["gradient"]
    print(
        f"{f'bert-tiny {count} x {LENGTH} tokens':<28} {'attn_lrp':<18} {rates['attn_lrp']:>10.1f} "
        f"{rates['gradient']:>12.1f} {ratio:>8.2f} {raw:>14.1f} "
        f"{cpu_rates['attn_lrp'] / cpu_rates['gradient']:>10.2f}",
        flush=True,
    )


def random_images(path: Path, count: int) -> Path:
    """``count`` random uint8 3x224x224 images with random labels in an input HDF5 file."""
    rng = np.random.default_rng(0)
    with h5py.File(path, "w") as file:
        file["data"] = rng.integers(0, 256, size=(count, 3, 224, 224), dtype=np.uint8)
        file["label"] = rng.integers(0, 1000, size=count)
    return path


def main() -> None:
    """Run both workloads and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--digits-count", type=int, default=1797)
    parser.add_argument("--vgg-count", type=int, default=512)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--vgg-batch-size", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--skip-vgg", action="store_true")
    parser.add_argument("--skip-digits", action="store_true")
    parser.add_argument("--skip-text", action="store_true")
    parser.add_argument("--text-count", type=int, default=600)
    parser.add_argument("--repeats", type=int, default=3, help="text workload: best of N")
    args = parser.parse_args()
    torch.manual_seed(0)
    print(
        f"torch {torch.__version__}, device {args.device}, threads {torch.get_num_threads()}, "
        f"workers {args.workers}"
    )
    print(
        f"{'workload':<28} {'composite':<18} {'LRP s/s':>10} {'gradient s/s':>12} {'ratio':>8} "
        f"{'in-memory s/s':>14} {'CPU ratio':>10}"
    )
    with tempfile.TemporaryDirectory() as folder:
        if not args.skip_text:
            text_workload(Path(folder), args)
        if not args.skip_digits:
            digits = Hdf5Inputs(write_digits(Path(folder) / "digits.h5"))
            count = min(args.digits_count, len(digits))
            workload(
                f"digits {count} x 1x32x32",
                SmallCNN(),
                digits,
                "epsilon_plus_flat",
                {},
                Preprocessing(),
                args,
                count,
            )
        if args.skip_vgg:
            return
        images = Hdf5Inputs(random_images(Path(folder) / "random.h5", args.vgg_count))
        preprocessing = Preprocessing(IMAGENET_MEAN, IMAGENET_STD)
        low, high = (b.to(args.device) for b in preprocessing.bounds(3))
        args.batch_size = args.vgg_batch_size
        workload(
            f"vgg16 {args.vgg_count} x 3x224x224",
            torchvision.models.vgg16(weights=None),
            images,
            "epsilon_gamma_box",
            {"low": low, "high": high},
            preprocessing,
            args,
            args.vgg_count,
        )


if __name__ == "__main__":
    main()
