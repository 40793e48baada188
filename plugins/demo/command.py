"""``relscope demo``: build a complete Clever-Hans project from built-in data, then serve it.

Each stage is the real thing a user runs (``relscope attribute``, ``relscope analyze``,
``relscope serve``), and each reuses its previous result, so a second run takes seconds.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from pathlib import Path
from typing import Any

from relscope.core import hookimpl

MODEL_SPEC = "relscope.plugins.demo.model:small_cnn"
#: (project file stem, shown name, composite, extra attribute options)
METHODS = (
    ("lrp", "Digits (Clever Hans) · LRP ε+♭", "epsilon_plus_flat", []),
    ("gamma", "Digits (Clever Hans) · LRP ε-γ-box", "epsilon_gamma_box", []),
)
#: samples the demo evaluates (pixel flipping of 2×2 regions, 16 steps, against random)
EVALUATION_SAMPLES = 128
#: the convolutions whose channels the demo's concepts are
CONCEPT_LAYERS = ("3", "6")
TRAINING = {"epochs": 12, "batch_size": 64, "lr": 2e-3, "seed": 0, "format": 2}


@hookimpl
def register_commands(subparsers: Any) -> None:
    """Declare ``relscope demo``."""
    parser = subparsers.add_parser(
        "demo",
        help="train, attribute, analyse and explore a Clever-Hans digits model, no download",
        description="Build a complete project from scikit-learn's bundled digits with a watermark "
        "shortcut on one class: train a small CNN, attribute it with LRP, run SpRAy on every "
        "class, write ViRelAy-compatible files, and serve the explorer.",
    )
    parser.add_argument("--out", type=Path, default=Path("demo-project"), help="project folder")
    parser.add_argument("--no-serve", action="store_true", help="stop after writing the files")
    parser.add_argument("--host", default="127.0.0.1", help="address to serve on")
    parser.add_argument("--port", type=int, default=8080, help="port to serve on")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    parser.add_argument(
        "--text",
        action="store_true",
        help="the text demo instead: generated reviews with a '<br>' shortcut, a tiny BERT, "
        "AttnLRP per token and SpRAy on the bag-of-relevance",
    )
    parser.set_defaults(func=run)


def _stage(number: int, text: str) -> None:
    print(f"[{number}/6] {text}", file=sys.stderr, flush=True)


def _run_cli(argv: list[str]) -> None:
    from relscope.core.cli.main import main
    from relscope.core.errors import RelscopeError

    code = main(argv)
    if code != 0:
        raise RelscopeError(f"demo: `relscope {' '.join(argv)}` failed with exit code {code}")


def _train(out: Path, quiet: bool) -> dict[str, Any]:
    """Train (or reuse) the CNN; returns the summary with held-out accuracies."""
    import numpy as np
    import torch

    from relscope.core.data.atomic import atomic_path
    from relscope.plugins.demo.dataset import (
        WATERMARK_CLASS,
        build_demo_data,
        intervention_rows,
        write_demo_inputs,
    )
    from relscope.plugins.demo.model import small_cnn
    from relscope.plugins.demo.training import accuracy, train_classifier
    from relscope.plugins.demo.watermark import stamp_watermark

    summary_path = out / "demo.json"
    key = hashlib.sha256(json.dumps(TRAINING, sort_keys=True).encode()).hexdigest()[:16]
    if summary_path.exists() and (out / "model.pt").exists() and (out / "input.h5").exists():
        summary = json.loads(summary_path.read_text())
        if summary.get("training_key") == key:
            print("  reusing model.pt and input.h5 (delete them to retrain)", file=sys.stderr)
            return summary

    data = build_demo_data(seed=TRAINING["seed"])
    write_demo_inputs(data, out / "input.h5")
    started = time.perf_counter()
    torch.manual_seed(TRAINING["seed"])
    model = train_classifier(
        small_cnn(),
        data.images[data.train],
        data.labels[data.train],
        epochs=TRAINING["epochs"],
        batch_size=TRAINING["batch_size"],
        lr=TRAINING["lr"],
        seed=TRAINING["seed"],
        progress=not quiet,
    )
    seconds = time.perf_counter() - started
    held = data.held_out
    everywhere = np.ones(len(held), dtype=bool)
    others = intervention_rows(data)
    with torch.no_grad():
        stamped = stamp_watermark(data.clean[others], np.ones(len(others), dtype=bool))
        called = model(torch.from_numpy(stamped)).argmax(1).numpy() == WATERMARK_CLASS
    summary = {
        "training_key": key,
        "training_seconds": round(seconds, 1),
        "watermark_class": WATERMARK_CLASS,
        "accuracy_held_out_as_stored": accuracy(model, data.images[held], data.labels[held]),
        "accuracy_held_out_clean": accuracy(model, data.clean[held], data.digits[held]),
        "accuracy_held_out_all_watermarked": accuracy(
            model, stamp_watermark(data.clean[held], everywhere), data.labels[held]
        ),
        "intervention_samples": int(len(others)),
        "intervention_called_watermark_class": float(called.mean()),
        "predicted_watermark_class_when_watermarked": float(
            (
                model(torch.from_numpy(stamp_watermark(data.clean[held], everywhere)))
                .argmax(1)
                .numpy()
                == WATERMARK_CLASS
            ).mean()
        ),
    }
    with atomic_path(out / "model.pt") as temp:
        torch.save(model.state_dict(), temp)
    with atomic_path(summary_path) as temp:
        temp.write_text(json.dumps(summary, indent=2))
    return summary


def intervention_line(summary: dict[str, Any]) -> str:
    """What stamping the watermark on held-out other digits does, in one line."""
    digit = summary["watermark_class"]
    return (
        f"with the watermark stamped on {summary['intervention_samples']} held-out non-{digit}s, "
        f'the model calls {summary["intervention_called_watermark_class"]:.0%} of them "{digit}"'
    )


def _describe(path: Path, text: str) -> None:
    """Set the project's note (shown under the explorer's tabs)."""
    from relscope.core.data.project import read_project, write_project

    project = read_project(path)
    if project.description != text:
        project.description = text
        write_project(project, path)


def _concepts(out: Path, project: Path, quiet: list[str]) -> None:
    """Concepts (CRP) of the CNN's last two convolutions, and SpRAy on them, into ``project``."""
    _stage(
        4, f"concepts of convolutions {' and '.join(CONCEPT_LAYERS)} → concepts.h5, SpRAy on them"
    )
    layers = [flag for layer in CONCEPT_LAYERS for flag in ("--layer", layer)]
    _run_cli(
        [
            "concepts", "--model", MODEL_SPEC, "--weights", str(out / "model.pt"),
            "--data", str(out / "input.h5"), "--composite", "epsilon_plus_flat", *layers,
            "--batch-size", "128", "--workers", "0", "--out", str(out / "concepts.h5"),
            "--project", str(project), "--resume", *quiet,
        ]
    )  # fmt: skip
    _run_cli(
        [
            "analyze", "--features", f"{out / 'concepts.h5'}:{CONCEPT_LAYERS[-1]}",
            "--label-map", str(out / "label-map.json"), "--cache", str(out / "cache.h5"),
            "--project", str(project), "--method", "concepts",
            "--out", str(out / "analysis-concepts.h5"), "--clusters", "2..10", *quiet,
        ]
    )  # fmt: skip


def run(args: argparse.Namespace) -> int:
    """Run the six stages; serve unless ``--no-serve``."""
    if args.text:
        from relscope.plugins.demo.text_demo import run_text_demo

        return run_text_demo(args, _run_cli)
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    quiet = ["--quiet"] if args.quiet else []

    _stage(1, f"data: bundled digits at 32×32 with a watermark shortcut → {out / 'input.h5'}")
    _stage(2, "model: training a small CNN on CPU (seeded)")
    summary = _train(out, args.quiet)
    print(f"  held-out accuracy: {summary['accuracy_held_out_clean']:.3f}", file=sys.stderr)
    print(f"  intervention: {intervention_line(summary)}", file=sys.stderr)

    projects = []
    for stem, name, composite, extra in METHODS:
        _stage(3, f"attribution: {composite} → attribution-{stem}.h5")
        project = out / f"project-{stem}.yaml"
        _run_cli(
            [
                "attribute",
                "--model", MODEL_SPEC,
                "--weights", str(out / "model.pt"),
                "--data", str(out / "input.h5"),
                "--composite", composite,
                "--batch-size", "128",
                "--workers", "0",
                "--out", str(out / f"attribution-{stem}.h5"),
                "--project", str(project),
                "--project-name", name,
                "--resume",
                *extra,
                *quiet,
            ]
        )  # fmt: skip
        _stage(3, f"evaluation: pixel flipping of {composite} vs random → evaluation-{stem}.json")
        _run_cli(
            [
                "evaluate", str(out / f"attribution-{stem}.h5"),
                "--model", MODEL_SPEC,
                "--weights", str(out / "model.pt"),
                "--data", str(out / "input.h5"),
                "--limit", str(EVALUATION_SAMPLES),
                "--region", "2",
                "--step", "16",
                "--baselines", "random",
                "--batch-size", "128",
                "--workers", "0",
                "--out", str(out / f"evaluation-{stem}.json"),
                "--resume",
                *quiet,
            ]
        )  # fmt: skip
        _stage(4, f"SpRAy over every class → analysis-{stem}.h5")
        _run_cli(
            [
                "analyze",
                str(out / f"attribution-{stem}.h5"),
                "--label-map", str(out / "label-map.json"),
                "--cache", str(out / "cache.h5"),
                "--project", str(project),
                "--out", str(out / f"analysis-{stem}.h5"),
                "--clusters", "2..10",
                *quiet,
            ]
        )  # fmt: skip
        _describe(project, f"Intervention: {intervention_line(summary)}")
        from relscope.core.evaluation.evaluation_file import link_evaluation

        link_evaluation(project, out / f"evaluation-{stem}.json")
        projects.append(project)

    _concepts(out, projects[0], quiet)
    _stage(5, f"project files: {', '.join(p.name for p in projects)} in {out}")
    if args.no_serve:
        return 0
    _stage(6, f"explorer: http://{args.host}:{args.port}")
    _run_cli(["serve", *map(str, projects), "--host", args.host, "--port", str(args.port)])
    return 0
