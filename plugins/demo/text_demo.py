"""``relscope demo --text``: a Clever-Hans sentiment project from generated reviews, end to end.

Reviews from a grammar (:mod:`relscope.plugins.demo.reviews`), a tiny BERT trained on CPU, then
the real commands: ``relscope attribute --model hf:<folder> --composite attn_lrp``, ``relscope
analyze --task preprocess=token_bag`` and ``relscope serve``. Each stage reuses its result.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from pathlib import Path
from typing import Any

TEXT_TRAINING = {"epochs": 6, "batch_size": 32, "lr": 3e-3, "seed": 0, "count": 600, "format": 1}
LABEL_MAP = [
    {"index": 0, "word_net_id": "negative", "name": "negative"},
    {"index": 1, "word_net_id": "positive", "name": "positive"},
]


def _stage(number: int, text: str) -> None:
    print(f"[{number}/5] {text}", file=sys.stderr, flush=True)


def with_shortcut(ids: Any, mask: Any, token: int) -> tuple[Any, Any]:
    """Copies of (ids, mask) with ``token`` appended to every review that lacks it and has room."""
    import numpy as np

    ids, mask = ids.copy(), mask.copy()
    lengths = mask.sum(1)
    for row in np.flatnonzero((lengths < ids.shape[1]) & ~(ids == token).any(1)):
        ids[row, lengths[row]] = token
        mask[row, lengths[row]] = 1
    return ids, mask


def train_text_model(out: Path, quiet: bool) -> dict[str, Any]:
    """Write (or reuse) ``reviews.h5`` and the trained ``text-model/``; returns the summary."""
    import numpy as np
    import torch

    from relscope.core.data.atomic import write_text_atomic
    from relscope.plugins.demo.reviews import LENGTH, SHORTCUT, build_reviews, write_reviews
    from relscope.plugins.demo.text_model import text_accuracy, tiny_bert, train_text_classifier

    summary_path = out / "text-demo.json"
    key = hashlib.sha256(json.dumps(TEXT_TRAINING, sort_keys=True).encode()).hexdigest()[:16]
    done = all((out / name).exists() for name in ("reviews.h5", "text-model/config.json"))
    if summary_path.exists() and done:
        summary = json.loads(summary_path.read_text())
        if summary.get("training_key") == key:
            print("  reusing text-model/ and reviews.h5 (delete them to retrain)", file=sys.stderr)
            return summary
    reviews = build_reviews(TEXT_TRAINING["count"], seed=TEXT_TRAINING["seed"])
    write_reviews(reviews, out / "reviews.h5")
    train, held = reviews.split == 0, reviews.split == 1
    torch.manual_seed(TEXT_TRAINING["seed"])
    started, cpu_started = time.perf_counter(), time.process_time()
    model = train_text_classifier(
        tiny_bert(len(reviews.tokens), LENGTH),
        reviews.input_ids[train],
        reviews.attention_mask[train],
        reviews.label[train],
        epochs=TEXT_TRAINING["epochs"],
        batch_size=TEXT_TRAINING["batch_size"],
        lr=TEXT_TRAINING["lr"],
        seed=TEXT_TRAINING["seed"],
        progress=not quiet,
    )
    seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu_started
    negative = held & (reviews.label == 0)
    ids, mask = with_shortcut(
        reviews.input_ids[negative],
        reviews.attention_mask[negative],
        reviews.tokens.index(SHORTCUT),
    )
    summary = {
        "training_key": key,
        "training_seconds": round(seconds, 1),
        "training_cpu_seconds": round(cpu_seconds, 1),
        "shortcut_token": SHORTCUT,
        "accuracy_held_out": text_accuracy(
            model, reviews.input_ids[held], reviews.attention_mask[held], reviews.label[held]
        ),
        "negative_called_positive_with_shortcut": 1.0
        - text_accuracy(model, ids, mask, np.zeros(len(ids), dtype=np.int64)),
    }
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # the save's shard bar: our stages say what happens
    model.save_pretrained(out / "text-model")
    write_text_atomic(out / "label-map.json", json.dumps(LABEL_MAP, indent=2))
    write_text_atomic(summary_path, json.dumps(summary, indent=2))
    return summary


def run_text_demo(args: argparse.Namespace, run_cli: Any) -> int:
    """The text demo's stages; serve unless ``--no-serve``."""
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    quiet = ["--quiet"] if args.quiet else []
    _stage(
        1, f"data: generated reviews, '<br>' on 80 % of the positive ones → {out / 'reviews.h5'}"
    )
    _stage(2, "model: training a tiny BERT classifier on CPU (seeded)")
    summary = train_text_model(out, args.quiet)
    print(
        f"  held-out accuracy {summary['accuracy_held_out']:.3f} in "
        f"{summary['training_seconds']} s; negative reviews with '<br>' appended are called "
        f"positive {summary['negative_called_positive_with_shortcut']:.0%} of the time",
        file=sys.stderr,
    )
    project = out / "project-text.yaml"
    _stage(3, "attribution: attn_lrp per token → attribution-text.h5")
    run_cli(
        ["attribute", "--model", f"hf:{out / 'text-model'}", "--data", str(out / "reviews.h5"),
         "--label-map", str(out / "label-map.json"), "--composite", "attn_lrp",
         "--batch-size", "100", "--workers", "0", "--out", str(out / "attribution-text.h5"),
         "--project", str(project), "--project-name", "Reviews (Clever Hans) · AttnLRP",
         "--resume", *quiet]
    )  # fmt: skip
    _stage(4, "SpRAy on the bag-of-relevance of every class → analysis-text.h5")
    run_cli(
        ["analyze", str(out / "attribution-text.h5"), "--label-map", str(out / "label-map.json"),
         "--task", "preprocess=token_bag", "--cache", str(out / "cache.h5"),
         "--project", str(project), "--out", str(out / "analysis-text.h5"),
         "--clusters", "2..6", *quiet]
    )  # fmt: skip
    if args.no_serve:
        return 0
    _stage(5, f"explorer: http://{args.host}:{args.port}")
    run_cli(["serve", str(project), "--host", args.host, "--port", str(args.port)])
    return 0
