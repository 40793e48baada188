"""relscope's attn_lrp / cp_lrp against LXT 2.1's efficient mode (the AttnLRP reference), and
relscope under transformers 5.x against relscope under transformers 4.53.3, on the same weights.

LXT 2.1 imports only beside transformers 4.53.x, so it runs in its own virtual environment, which
this script builds when it is missing (the command is printed first; relscope is installed there
too, editable, so relscope also runs under 4.53.3):

    .venv/bin/python benchmarks/lxt_parity.py                     # env in .lxt-venv (built once)
    .venv/bin/python benchmarks/lxt_parity.py --env /tmp/lxt-env --cases llama gpt2

Cases: tiny random LLaMA, Qwen2 and GPT-2 (2 layers, hidden 64, eager attention, one sequence of 8
input embeddings, last position's logit for one token) with AttnLRP and CP-LRP, and torchvision
``vit_b_16`` (random weights, one 224 x 224 image) with CP-LRP (LXT has no AttnLRP map for it).
LXT patches model classes globally, so every run is a fresh process. The weights and inputs are
made once (in the LXT environment) and loaded by every run. Printed: the relative L2 error
``|a - b| / |b|`` of the input relevance, for relscope (4.53) vs LXT, relscope (5.x) vs LXT and
relscope (5.x) vs relscope (4.53). The target is ≤ 1e-4.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
HF_CASES = ("llama", "qwen2", "gpt2")
CASES = [(name, variant) for name in HF_CASES for variant in ("attn_lrp", "cp_lrp")] + [
    ("vit_b_16", "cp_lrp")
]
TARGET = 7


def build_command(env: Path) -> str:
    """The shell command that builds the LXT environment."""
    pip = env / "bin" / "pip"
    return (
        f"python3 -m venv {env} && {pip} install -q torch==2.14.1 torchvision==0.29.1 && "
        f"{pip} install -q transformers==4.53.3 lxt==2.1 && {pip} install -q -e {REPO}"
    )


# -- the workers (run in either environment) --------------------------------------------------------
def hf_model(name: str):
    """The tiny random model of ``name`` (same config under 4.53 and 5.x), eager attention."""
    import transformers

    common = dict(vocab_size=100, num_hidden_layers=2, num_attention_heads=4)
    if name == "gpt2":
        config = transformers.GPT2Config(n_embd=64, n_layer=2, n_head=4, vocab_size=100)
        model_cls = transformers.GPT2LMHeadModel
    else:
        config_cls = {"llama": transformers.LlamaConfig, "qwen2": transformers.Qwen2Config}[name]
        config = config_cls(hidden_size=64, intermediate_size=128, num_key_value_heads=2, **common)
        model_cls = {
            "llama": transformers.LlamaForCausalLM,
            "qwen2": transformers.Qwen2ForCausalLM,
        }[name]
    config._attn_implementation = "eager"
    return model_cls(config).eval()


def make_case(name: str, folder: Path) -> None:
    """Write the weights and the input of case ``name`` (seeded) once."""
    import torch

    torch.manual_seed(0)
    if name == "vit_b_16":
        import torchvision

        model = torchvision.models.vit_b_16(weights=None).eval()
        torch.nn.init.normal_(model.heads.head.weight, std=0.02)
        x = torch.randn(1, 3, 224, 224)
    else:
        model = hf_model(name)
        x = torch.randn(1, 8, 64)
    torch.save(model.state_dict(), folder / f"{name}.weights.pt")
    torch.save(x, folder / f"{name}.input.pt")


def load_case(name: str, folder: Path):
    import torch

    if name == "vit_b_16":
        import torchvision

        model = torchvision.models.vit_b_16(weights=None).eval()
    else:
        model = hf_model(name)
    state = torch.load(folder / f"{name}.weights.pt", weights_only=True)
    model.load_state_dict(state, strict=False)  # tied lm_head / buffers may be absent
    return model, torch.load(folder / f"{name}.input.pt", weights_only=True)


def worker(tool: str, name: str, variant: str, folder: Path, out: Path) -> None:
    """Relevance of case ``name`` with ``tool`` (``lxt`` or ``relscope``), saved to ``out``."""
    import torch

    torch.set_num_threads(2)
    if tool == "lxt":
        from lxt.efficient import monkey_patch

        if name == "vit_b_16":
            from lxt.efficient.models import vit_torch

            monkey_patch(vit_torch.vision_transformer, vit_torch.cp_LRP)
        else:
            import importlib

            maps = importlib.import_module(f"lxt.efficient.models.{name}")
            modeling = getattr(maps, f"modeling_{name}")
            monkey_patch(modeling, maps.attnLRP if variant == "attn_lrp" else maps.cp_LRP)
    model, x = load_case(name, folder)
    x = x.clone().requires_grad_(True)
    if tool == "lxt":
        output = model(x) if name == "vit_b_16" else model(inputs_embeds=x, use_cache=False).logits
        logit = output[0, TARGET] if name == "vit_b_16" else output[0, -1, TARGET]
        logit.backward()
        relevance = (x.grad * x).detach()
    else:
        from relscope.core.attribution import attribute

        class LastLogits(torch.nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.lm = model

            def forward(self, e: torch.Tensor) -> torch.Tensor:
                return self.lm(inputs_embeds=e, use_cache=False).logits[:, -1]

        wrapped = model if name == "vit_b_16" else LastLogits()
        relevance = attribute(wrapped, x.detach(), target=TARGET, composite=variant)
    import transformers

    torch.save({"relevance": relevance, "transformers": transformers.__version__}, out)


# -- the driver -------------------------------------------------------------------------------------
def run(python: Path, *arguments: str) -> None:
    done = subprocess.run(
        [str(python), __file__, *arguments], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise SystemExit(f"{python} {' '.join(arguments)} failed:\n{done.stderr[-3000:]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", type=Path, default=REPO / ".lxt-venv")
    parser.add_argument("--cases", nargs="+", default=[*HF_CASES, "vit_b_16"])
    parser.add_argument("--make-case", nargs=2, help=argparse.SUPPRESS)
    parser.add_argument("--worker", nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.make_case:
        make_case(args.make_case[0], Path(args.make_case[1]))
        return
    if args.worker:
        tool, name, variant, folder, out = args.worker
        worker(tool, name, variant, Path(folder), Path(out))
        return

    lxt_python = args.env / "bin" / "python"
    if not lxt_python.exists():
        command = build_command(args.env)
        print(f"building the LXT environment:\n  {command}", flush=True)
        subprocess.run(command, shell=True, check=True)
    import torch

    print(f"{'case':10s} {'variant':9s} {'relscope(4.53) vs LXT':>22s} "
          f"{'relscope(5.x) vs LXT':>21s} {'relscope 5.x vs 4.53':>21s}")  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for name in args.cases:
            run(lxt_python, "--make-case", name, str(folder))
            for case, variant in CASES:
                if case != name:
                    continue
                files = {}
                for key, python, tool in (
                    ("lxt", lxt_python, "lxt"),
                    ("old", lxt_python, "relscope"),
                    ("new", Path(sys.executable), "relscope"),
                ):
                    files[key] = folder / f"{name}.{variant}.{key}.pt"
                    run(python, "--worker", tool, name, variant, str(folder), str(files[key]))
                r = {k: torch.load(v, weights_only=False)["relevance"] for k, v in files.items()}

                def rel(a: torch.Tensor, b: torch.Tensor) -> float:
                    return float((a - b).norm() / b.norm())

                print(
                    f"{name:10s} {variant:9s} {rel(r['old'], r['lxt']):22.2e} "
                    f"{rel(r['new'], r['lxt']):21.2e} {rel(r['new'], r['old']):21.2e}",
                    flush=True,
                )


if __name__ == "__main__":
    main()
