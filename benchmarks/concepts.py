"""32 conditional (CRP) heatmaps on vgg11: relscope against zennit-crp, side by side.

torchvision vgg11 (random weights, eval), a batch of 2 images 3 x 224 x 224, 32 conditions (one
channel of ``features.13`` each, the target class of each sample): relscope's
``attribute(..., conditions=[...])`` and zennit-crp's ``CondAttribution`` with zennit's
``EpsilonPlusFlat`` (+ ``VGGCanonizer``) compute the same 64 heatmaps (printed: their largest
difference relative to the largest value). Both run the conditions in chunks of ``--chunk``
conditions per batch (memory), one warm-up round, then ``--runs`` timed rounds interleaved
(load on a shared machine hits both alike); prints medians and the ratio relscope / zennit-crp.

    .venv/bin/python benchmarks/concepts.py                 # needs zennit 1.0.0 + zennit-crp 0.6.0
    .venv/bin/python benchmarks/concepts.py --runs 5 --chunk 32 --threads 2
"""

from __future__ import annotations

import argparse
import statistics
import time


def main() -> None:
    """Parse options, build both sides, time them interleaved and print the ratio."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--chunk", type=int, default=8, help="conditions per batch")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--layer", default="features.13")
    args = parser.parse_args()

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
