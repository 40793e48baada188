"""CLI start-up: whole-process wall times of listing, help and a cached ``relscope analyze``,
side by side with ``python -c "import torch"`` for scale.

Each command runs once untimed (writing bytecode caches as a user's install has them), then
``--repeat`` times (default 5) as a fresh subprocess; the median and fastest wall time, the ratio
to ``import torch`` and the median CPU time are printed, with the load average before and after. The
cached analyze re-run uses an N-sample attribution file of 1 x 32 x 32 features in one category
(written and analysed once, untimed, to fill the cache; N = 8,000 by default).

    .venv/bin/python benchmarks/cli.py
    .venv/bin/python benchmarks/cli.py --n 2000 --repeat 3 --skip-analyze
    /other/checkout/.venv/bin/python benchmarks/cli.py   # times that checkout's relscope

Targets: listing and every ``--help`` <= 1.0 s; the cached analyze re-run <= 1.5 s.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RELSCOPE = str(Path(sys.executable).with_name("relscope"))
COMMANDS = ("attribute", "analyze", "inspect", "heatmap", "recolor", "project", "evaluate")
COMMANDS += ("concepts", "demo", "serve", "plugins", "list")


def run_times(argv: list[str], repeat: int, env: dict[str, str]) -> tuple[list[float], list[float]]:
    """Wall and CPU (user + system) seconds of ``repeat`` fresh runs of ``argv`` (each must exit
    0); CPU time moves less than wall time with the load of a shared machine."""
    walls, cpus = [], []
    for _ in range(repeat):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        done = subprocess.run(argv, capture_output=True, text=True, env=env)
        walls.append(time.perf_counter() - start)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
        if done.returncode != 0:
            raise SystemExit(f"{' '.join(argv)} exited {done.returncode}: {done.stderr[-500:]}")
    return walls, cpus


def write_attributions(folder: Path, n: int) -> list[str]:
    """An attribution file of ``n`` samples in one category and its label map; analyze's argv."""
    import h5py
    import numpy as np

    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:32, :32]
    centres = rng.uniform(6, 26, size=(6, 2))
    shapes = np.stack([np.exp(-((yy - y) ** 2 + (xx - x) ** 2) / 30.0) for y, x in centres])
    data = shapes[rng.integers(0, 6, n)] + rng.normal(scale=0.3, size=(n, 32, 32))
    data[rng.random(n) < 0.2, :4, :4] += 2.0  # a corner artefact in a fifth of the samples
    with h5py.File(folder / "attribution.h5", "w") as handle:
        handle["attribution"] = data[:, None].astype(np.float32)
        handle["prediction"] = rng.normal(size=(n, 2)).astype(np.float32)
        handle["label"] = np.zeros(n, dtype=np.int64)
        handle["index"] = np.arange(n)
    label_map = [{"index": 0, "word_net_id": "n00000000", "name": "zero"}]
    (folder / "label-map.json").write_text(json.dumps(label_map))
    return [
        RELSCOPE,
        "analyze",
        str(folder / "attribution.h5"),
        "--label-map",
        str(folder / "label-map.json"),
        "--n-eigval",
        "8",
        "--n-neighbors",
        "10",
        "--clusters",
        "2..10",
        "--cache",
        str(folder / "cache.h5"),
        "--out",
        str(folder / "analysis.h5"),
        "--quiet",
    ]


def main() -> None:
    """Time every command and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="runs per command (median)")
    parser.add_argument("--n", type=int, default=8000, help="samples of the analyze file")
    parser.add_argument("--skip-analyze", action="store_true", help="no cached analyze run")
    parser.add_argument(
        "--no-command-help", action="store_true", help="skip the per-command --help pages"
    )
    args = parser.parse_args()
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
    # as installed for a user: bytecode caches are written (and used) -- one untimed warm-up
    # run per command writes them where this environment had switched them off
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    cases: list[tuple[str, list[str]]] = [
        ('python -c "pass"', [sys.executable, "-c", "pass"]),
        ('python -c "import torch"', [sys.executable, "-c", "import torch"]),
        ("relscope --version", [RELSCOPE, "--version"]),
        ("relscope --help", [RELSCOPE, "--help"]),
        ("relscope list composites", [RELSCOPE, "list", "composites"]),
        ("relscope list processors", [RELSCOPE, "list", "processors"]),
        ("relscope list rules --json", [RELSCOPE, "list", "rules", "--json"]),
        ("relscope plugins --json", [RELSCOPE, "plugins", "--json"]),
    ]
    if not args.no_command_help:
        cases += [(f"relscope {name} --help", [RELSCOPE, name, "--help"]) for name in COMMANDS]
    with tempfile.TemporaryDirectory() as tmp:
        if not args.skip_analyze:
            analyze = write_attributions(Path(tmp), args.n)
            start = time.perf_counter()
            subprocess.run(analyze, check=True, env=env, capture_output=True)
            print(
                f"cold analyze at N = {args.n:,} (fills the cache, not compared): "
                f"{time.perf_counter() - start:.1f} s"
            )
            cases.append((f"relscope analyze, cached re-run, N = {args.n:,}", analyze))
        print(f"load average before: {os.getloadavg()[0]:.2f} (cores: {os.cpu_count()})")
        for _, argv in cases:
            run_times(argv, 1, env)  # warm-up: bytecode caches, the OS file cache
        results = [(label, *run_times(argv, args.repeat, env)) for label, argv in cases]
    torch = statistics.median(next(w for label, w, _ in results if "import torch" in label))
    width = max(len(label) for label, _, _ in results)
    print(
        f"{'command':{width}}  wall median  wall min  / import torch  CPU median"
        f"  (s, {args.repeat} runs each)"
    )
    for label, walls, cpus in results:
        median = statistics.median(walls)
        print(
            f"{label:{width}}  {median:11.2f}  {min(walls):8.2f}  {median / torch:13.2f}"
            f"  {statistics.median(cpus):10.2f}"
        )
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
