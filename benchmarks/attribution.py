"""Speed and peak memory of LRP composites against the plain gradient, side by side.

For torchvision vgg16 and resnet50 (random weights, eval mode, batch 8, 3 x 224 x 224,
``torch.set_num_threads(2)``) this prints the median (and min) of N timed runs, after one warm-up
round, of: a plain forward pass, forward + input gradient (``attribute`` without composite), and
``attribute`` with each LRP composite (the context is entered, modified weights are built, and the
rules are removed again inside every run); the ratio of each to the gradient; and the peak
resident memory. The timed runs of all configurations are interleaved round-robin in one process
(load changes on a shared machine then hit all alike); peak RSS (``ru_maxrss``: model weights and
the Python/torch baseline included) is measured for each configuration alone, in its own process.

    .venv/bin/python benchmarks/attribution.py                      # vgg16 and resnet50, 5 runs
    .venv/bin/python benchmarks/attribution.py --models vgg16 --runs 7
    .venv/bin/python benchmarks/attribution.py --composites epsilon_plus_flat epsilon_gamma_box
    .venv/bin/python benchmarks/attribution.py --models vit_b_16 hf_llama   # attn_lrp, cp_lrp

Attention models (``vit_*``, ``swin_*``, ``maxvit_t``, and ``hf_llama``: a random 6-layer
Hugging Face LLaMA, hidden 512, one sequence of 256 tokens attributed at its input embeddings) are
measured with ``attn_lrp`` and ``cp_lrp`` unless ``--composites`` says otherwise.

resnet50's residual additions and batch norms need canonizers; the composites take whatever the
``default_canonizers`` hook returns for the model (printed per model), and no canonizer when no
plugin knows it. Wall times on a shared machine are noisy (other processes take the cores at
times); the median CPU time of this process (both threads) is printed too, as a steadier measure
of the work done. Compare ratios from one run only.
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


#: attention models and the composites they are measured with by default
TRANSFORMER_COMPOSITES = ["attn_lrp", "cp_lrp"]
#: the Hugging Face model: a 6-layer LLaMA, hidden size 512, sequences of 256 tokens
HF_LLAMA = "hf_llama"
LLAMA_SEQUENCE = 256


def build_llama(batch: int):
    """A random 6-layer LLaMA (hidden 512, 8 heads, MLP 1376) as ``embeddings -> last logits``."""
    import torch
    import transformers
    from torch import nn

    config = transformers.LlamaConfig(
        vocab_size=1000, hidden_size=512, intermediate_size=1376, num_hidden_layers=6,
        num_attention_heads=8, num_key_value_heads=8,
    )  # fmt: skip
    lm = transformers.LlamaForCausalLM(config).eval()

    class Wrapped(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lm = lm

        def forward(self, embeddings: torch.Tensor) -> torch.Tensor:
            return self.lm(inputs_embeds=embeddings).logits[:, -1]

    return Wrapped().eval(), torch.randn(batch, LLAMA_SEQUENCE, 512), list(range(batch))


def build(model_name: str, batch: int, threads: int):
    """The model (random weights, eval mode), a seeded input batch and one target per sample."""
    import torch
    import torchvision

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    if model_name == HF_LLAMA:
        return build_llama(1)
    model = torchvision.models.get_model(model_name, weights=None).eval()
    for module in model.modules():  # torchvision zero-initialises ViT heads
        if isinstance(module, torch.nn.Linear) and not module.weight.any():
            torch.nn.init.normal_(module.weight, std=0.02)
    return model, torch.randn(batch, 3, 224, 224), list(range(batch))


def is_transformer(model_name: str) -> bool:
    """Attention models get attn_lrp/cp_lrp instead of the CNN composites."""
    return model_name == HF_LLAMA or model_name.startswith(("vit_", "swin_", "maxvit"))


def runner(config: str, model, x, target):
    """A function doing one run of ``config`` (forward, gradient, or a composite name)."""
    import torch

    from relscope.core.attribution import attribute, get_composite

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

    return once


def timing_worker(model_name: str, configs: list[str], args: argparse.Namespace) -> dict:
    """Interleave the configurations round-robin (1 warm-up round, then ``runs`` timed rounds),
    so slow drifts of a shared machine's load hit all of them alike."""
    from relscope.core.plugin_manager import default_plugin_manager

    model, x, target = build(model_name, args.batch, args.threads)
    canonizers = default_plugin_manager().hook.default_canonizers(model=model) or []
    runs = {config: runner(config, model, x, target) for config in configs}
    times: dict[str, list[float]] = {config: [] for config in configs}
    cpu: dict[str, list[float]] = {config: [] for config in configs}
    for round_index in range(args.runs + 1):
        for config, once in runs.items():
            start, start_cpu = time.perf_counter(), time.process_time()
            once()
            if round_index:  # round 0 warms up (primitive selection, allocator growth)
                times[config].append(time.perf_counter() - start)
                cpu[config].append(time.process_time() - start_cpu)
    return {"times": times, "cpu": cpu, "canonizers": [type(c).__name__ for c in canonizers]}


def memory_worker(model_name: str, config: str, args: argparse.Namespace) -> dict:
    """Peak RSS of one run of ``config`` in this fresh process (and RSS once the model is built)."""
    model, x, target = build(model_name, args.batch, args.threads)
    loaded = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    runner(config, model, x, target)()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"peak_rss_mb": peak / 1024, "loaded_rss_mb": loaded / 1024}


def subprocess_json(*worker_args: str, args: argparse.Namespace) -> dict:
    """Run this script as a worker and parse the JSON it prints last."""
    command = [sys.executable, __file__, *worker_args, "--batch", str(args.batch)]
    command += ["--threads", str(args.threads), "--runs", str(args.runs)]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(worker_args)} failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["vgg16", "resnet50"])
    parser.add_argument("--composites", nargs="+", default=LRP_COMPOSITES)
    parser.add_argument("--runs", type=int, default=5, help="timed runs per configuration (>= 5)")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--timing-worker", nargs="+", help=argparse.SUPPRESS)
    parser.add_argument("--memory-worker", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.timing_worker:
        print(json.dumps(timing_worker(args.timing_worker[0], args.timing_worker[1:], args)))
        return
    if args.memory_worker:
        print(json.dumps(memory_worker(*args.memory_worker, args)))
        return

    print(
        f"batch {args.batch} x 3 x 224 x 224 (hf_llama: 1 x 256 tokens x 512), torch threads "
        f"{args.threads}; time: median of "
        f"{args.runs} runs after 1 warm-up, configurations interleaved round-robin in one process; "
        "peak RSS: one run per configuration, each in its own process"
    )
    for model_name in args.models:
        composites = args.composites
        if is_transformer(model_name) and args.composites == LRP_COMPOSITES:
            composites = TRANSFORMER_COMPOSITES
        configs = ["forward", "gradient", *composites]
        memory = {}
        for config in configs:
            memory[config] = subprocess_json("--memory-worker", model_name, config, args=args)
            print(
                f"  ... {model_name} {config}: {memory[config]['peak_rss_mb']:.0f} MB",
                file=sys.stderr,
            )
        timing = subprocess_json("--timing-worker", model_name, *configs, args=args)
        medians = {config: statistics.median(timing["times"][config]) for config in configs}
        cpu = {config: statistics.median(timing["cpu"][config]) for config in configs}
        grad_time, grad_rss = medians["gradient"], memory["gradient"]["peak_rss_mb"]
        canonizers = timing["canonizers"]
        print()
        print(
            f"{model_name} (default canonizers: {', '.join(canonizers) if canonizers else 'none'}; "
            f"RSS once the model is built: {memory['gradient']['loaded_rss_mb']:.0f} MB)"
        )
        header = (
            f"{'configuration':28s} {'median s':>9s} {'min s':>8s} {'x gradient':>11s} "
            f"{'CPU s':>8s} {'x gradient':>11s} {'peak RSS MB':>12s} {'x gradient':>11s}"
        )
        print(header)
        print("-" * len(header))
        for config in configs:
            peak = memory[config]["peak_rss_mb"]
            print(
                f"{config:28s} {medians[config]:9.2f} {min(timing['times'][config]):8.2f} "
                f"{medians[config] / grad_time:11.2f} {cpu[config]:8.2f} "
                f"{cpu[config] / cpu['gradient']:11.2f} {peak:12.0f} {peak / grad_rss:11.2f}"
            )


if __name__ == "__main__":
    main()
