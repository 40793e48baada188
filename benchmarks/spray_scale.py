"""SpRAy at ImageNet shape: ``relscope analyze`` over many categories of 1,300 x 1,024 synthetic
attributions, on 2 local worker processes and on a 2-worker local Dask cluster (and serially),
with the per-category overhead.

Writes one attribution file (``--categories`` x ``--per-category`` samples of 1 x 32 x 32, rows
grouped by category as an image folder gives them; each category has its own relevance shapes),
then runs the real command as a whole process (``--n-eigval 8 --n-neighbors 10 --clusters
2..10``, t-SNE and PCA views, ``--verbose``) and prints:

- wall time, CPU time, peak memory (the whole process tree's summed RSS, sampled, and the
  largest single process's from ``wait4``);
- per category: median wall time, the median sum of its steps, and the overhead between (reading
  its rows, cache look-ups, sorting outputs into the layout), the slowest steps;
- the fixed costs: start-up before the first category, the Dask cluster's start, the HDF5 write
  of the analysis file after the last category;
- one category taken apart in this process: t-SNE's set-up (affinities, spectral start) apart
  from its gradient descent;
- the extrapolation to ``--target`` categories (default 1,000) from the per-category time.

    .venv/bin/python benchmarks/spray_scale.py --categories 50
    .venv/bin/python benchmarks/spray_scale.py --categories 1000 --modes workers dask

Target: 1,000 categories in <= 15 min on 2 cores, <= 2 GiB. The machine may be shared: the load
average is printed with every figure.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from spray import make_attributions  # noqa: E402  (the same synthetic attributions)

OPTIONS = ["--n-eigval", "8", "--n-neighbors", "10", "--clusters", "2..10"]
#: how each mode runs the command: its label and extra options
MODES = {
    "serial": ("serial, one process", []),
    "workers": ("2 local worker processes x 1 thread", ["--workers", "2"]),
    "dask": ("Dask, 2 workers x 1 thread", ["--dask-workers", "2"]),
}
CATEGORY_LINE = re.compile(
    r"relscope: \[(\d+)/\d+\] (\S+) \([^)]*\): (\d+) points, .*, ([\d.]+) s$"
)
STEP_LINE = re.compile(r"relscope: \[(\d+)/\d+\] (\S+) \([^)]*\) (\S+): ([\d.]+) s$")
DASK_LINE = re.compile(r"relscope: \[(\d+)/\d+\] (\S+) \([^)]*\): (\d+) points in ([\d.]+) s on")


def load() -> str:
    """The 1/5/15-minute load averages."""
    return " ".join(f"{value:.1f}" for value in os.getloadavg())


def write_inputs(folder: Path, categories: int, per_category: int) -> tuple[Path, Path]:
    """The attribution file (written one category at a time: flat memory) and its label map."""
    import json

    import h5py

    n = categories * per_category
    path, labels = folder / "attribution.h5", folder / "label-map.json"
    with h5py.File(path, "w") as handle:
        data = handle.create_dataset(
            "attribution", (n, 1, 32, 32), dtype=np.float32, chunks=(per_category, 1, 32, 32)
        )
        for category in range(categories):
            rows = slice(category * per_category, (category + 1) * per_category)
            data[rows] = make_attributions(per_category, seed=category)
        handle["prediction"] = np.zeros((n, 1), dtype=np.float32)
        handle["label"] = np.repeat(np.arange(categories), per_category)
        handle["index"] = np.arange(n)
    entries = [{"index": c, "word_net_id": f"n{c:08d}", "name": f"c{c}"} for c in range(categories)]
    labels.write_text(json.dumps(entries))
    return path, labels


class TreeMemory:
    """Samples the summed RSS of a process and all its descendants; ``peak`` in bytes."""

    def __init__(self, pid: int, interval: float = 0.25) -> None:
        import psutil

        self.root = psutil.Process(pid)
        self.peak = 0
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        import psutil

        while not self._stop.is_set():
            try:
                tree = [self.root, *self.root.children(recursive=True)]
                total = 0
                for process in tree:
                    try:
                        total += process.memory_info().rss
                    except psutil.Error:
                        pass
                self.peak = max(self.peak, total)
            except psutil.Error:
                return
            time.sleep(self.interval)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


def run_command(command: list[str]) -> dict:
    """Run ``command`` as a whole process; its wall/CPU time, peak memory and stderr lines."""
    with tempfile.TemporaryFile("w+") as errors:
        started = time.perf_counter()
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=errors)
        memory = TreeMemory(process.pid)
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - started
        memory.stop()
        errors.seek(0)
        text = errors.read()
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"failed: {' '.join(command)}\n{text[-3000:]}")
    return {
        "wall": wall,
        "cpu": usage.ru_utime + usage.ru_stime,
        "tree_peak": memory.peak,
        "largest_peak": usage.ru_maxrss * 1024,
        "lines": text.splitlines(),
        "finished": time.perf_counter(),
        "started": started,
    }


def report(mode: str, result: dict, categories: int, target: int, workers: int) -> None:
    """Per-category figures, fixed costs and the extrapolation of one run."""
    lines = result["lines"]
    per_category: dict[str, float] = {}
    steps: dict[str, dict[str, float]] = {}
    for line in lines:
        if match := (CATEGORY_LINE.match(line) or DASK_LINE.match(line)):
            per_category[match.group(2)] = float(match.group(4))
        elif match := STEP_LINE.match(line):
            step = (
                match.group(3).split("/")[0] if "clustering" in match.group(3) else match.group(3)
            )
            bucket = steps.setdefault(match.group(2), {})
            bucket[step] = bucket.get(step, 0.0) + float(match.group(4))
    phase = [float(m.group(1)) for m in map(re.compile(r"in ([\d.]+) s$").search, lines) if m]
    ready = [float(m.group(1)) for m in map(re.compile(r"ready in ([\d.]+) s").search, lines) if m]
    analysis = phase[-1] if phase else float("nan")
    median = statistics.median(per_category.values()) if per_category else float("nan")
    print(
        f"\n{mode}: {len(per_category)}/{categories} categories in {result['wall']:.1f} s wall "
        f"(whole process), {result['cpu']:.1f} s CPU; peak memory {result['tree_peak'] / 2**30:.2f}"
        f" GiB summed over the process tree, {result['largest_peak'] / 2**30:.2f} GiB largest "
        f"process; load avg after {load()}"
    )
    print(f"    per category: median {median:.2f} s wall, mean "
          f"{statistics.fmean(per_category.values()):.2f} s")  # fmt: skip
    if steps:
        sums = [sum(s.values()) for s in steps.values()]
        overhead = [
            per_category[c] - sum(s.values()) for c, s in steps.items() if c in per_category
        ]
        print(f"    per category: steps {statistics.median(sums):.2f} s, overhead (rows read, "
              f"cache look-ups, layout) {statistics.median(overhead):.3f} s (medians)")  # fmt: skip
        names = sorted({name for s in steps.values() for name in s})
        typical = {
            name: statistics.median(s.get(name, 0.0) for s in steps.values()) for name in names
        }
        top = sorted(typical.items(), key=lambda item: -item[1])[:6]
        print("    median step times: " + ", ".join(f"{n} {t:.2f} s" for n, t in top))
    loop = sum(per_category.values()) / max(workers, 1)
    fixed_start = result["wall"] - analysis if phase else float("nan")
    cluster = ready[-1] if ready else 0.0
    tail = analysis - cluster - loop if phase else float("nan")
    started = f", Dask cluster start {cluster:.1f} s" if ready else ""
    after = "worker start-up, scheduling, gathering and " if workers > 1 else ""
    print(f"    fixed: start-up and reading the label map / file index {fixed_start:.1f} s"
          f"{started}; beyond the categories' own time ({after}the HDF5 write of the analysis "
          f"file) {tail:.1f} s")  # fmt: skip
    rate = (analysis - cluster) / max(len(per_category), 1)  # seconds of the run per category
    estimate = fixed_start + cluster + rate * target
    print(f"    extrapolated to {target:,} categories: {rate:.2f} s per category of the run -> "
          f"{estimate / 60:.1f} min (target <= 15 min at this machine's load)")  # fmt: skip


def anatomy(path: Path, per_category: int, target: int) -> None:
    """One category in this process: each step's time, t-SNE's set-up apart from its descent."""
    from openTSNE import TSNEEmbedding, affinity, initialization
    from threadpoolctl import threadpool_limits

    from relscope.core.analysis.category_data import load_attributions
    from relscope.core.data.attributions import AttributionSet
    from relscope.plugins.processors.embeddings import TSNE
    from relscope.plugins.processors.exact_tsne_gradient import ExactGradient
    from relscope.plugins.processors.spray import Spray

    with threadpool_limits(1):
        attributions = AttributionSet([path])
        started = time.perf_counter()
        data = load_attributions(attributions, np.arange(per_category))
        read = time.perf_counter() - started
        attributions.close()
        spray = Spray(n_eigval=8, n_neighbors=10, n_clusters=tuple(range(2, 11)))
        timings: dict[str, float] = {}  # CPU seconds per step (one thread: load-independent)
        clocks: dict[tuple, float] = {}

        def progress(event) -> None:
            if event.status == "start":
                clocks[tuple(event.path)] = time.process_time()
            elif event.status == "done" and (len(event.path) == 1 or event.path[0] != "clustering"):
                name = "/".join(event.path)
                timings[name] = time.process_time() - clocks[tuple(event.path)]
            elif event.status == "done" and len(event.path) == 2:
                timings[event.path[1]] = time.process_time() - clocks[tuple(event.path)]

        wall, cpu = time.perf_counter(), time.process_time()
        outputs = spray(data, progress=progress)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        vectors = outputs["spectral"][1].astype(np.float64)
        started = time.perf_counter()
        p = affinity.PerplexityBasedNN(vectors, perplexity=30, method="exact", random_state=0)
        affinities = time.perf_counter() - started
        started = time.perf_counter()
        start = initialization.spectral(p.P, random_state=0)
        spectral = time.perf_counter() - started
        tsne = TSNE(n_jobs=1)  # the view's method and schedule for this many points
        method, (early, plain) = tsne.gradient_method(len(vectors)), tsne.schedule(len(vectors))
        gradient = ExactGradient() if method == "exact" else method
        started = time.perf_counter()
        embedding = TSNEEmbedding(
            start, p, n_jobs=1, random_state=0, negative_gradient_method=gradient
        )
        embedding.optimize(early, exaggeration=12, momentum=0.5).optimize(plain, momentum=0.8)
        descent = time.perf_counter() - started
    slowest = sorted(timings.items(), key=lambda item: -item[1])[:8]
    print(f"\none category in this process, 1 thread (load avg {load()}): rows read {read:.3f} s "
          "wall; CPU seconds: " + ", ".join(f"{k} {v:.2f}" for k, v in slowest))  # fmt: skip
    print(f"    t-SNE set-up: affinities {affinities:.2f} s, spectral start {spectral:.2f} s; "
          f"gradient descent ({method}, {early} + {plain} iterations) {descent:.2f} s "
          "(wall)")  # fmt: skip
    print(f"    the whole pipeline: {wall:.2f} s wall, {cpu:.2f} s CPU on one thread -> "
          f"{target:,} categories on 2 idle cores (2 workers): {cpu * target / 2 / 60:.1f} min "
          "of CPU-bound work, plus the fixed costs above")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--categories", type=int, default=1000)
    parser.add_argument("--per-category", type=int, default=1300)
    parser.add_argument("--target", type=int, default=1000, help="categories to extrapolate to")
    parser.add_argument("--modes", nargs="+", default=["workers", "dask"], choices=list(MODES))
    parser.add_argument("--threads", type=int, default=1, help="--threads of each run (1)")
    parser.add_argument("--anatomy-only", action="store_true", help="skip the whole-process runs")
    args = parser.parse_args()
    print(f"SpRAy scale: {args.categories} categories x {args.per_category} x 1,024 features, "
          f"{os.cpu_count()} CPUs, load avg {load()}")  # fmt: skip
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        started = time.perf_counter()
        path, labels = write_inputs(folder, args.categories, args.per_category)
        print(f"    wrote {path.stat().st_size / 2**30:.2f} GiB of attributions in "
              f"{time.perf_counter() - started:.1f} s")  # fmt: skip
        base = [sys.executable, "-m", "relscope.core.cli", "analyze", str(path), "--label-map",
                str(labels), *OPTIONS, "--verbose", "--threads", str(args.threads)]  # fmt: skip
        for mode in [] if args.anatomy_only else args.modes:
            label, extra = MODES[mode]
            out = folder / f"analysis-{mode}.h5"
            result = run_command([*base, *extra, "--out", str(out)])
            report(label, result, args.categories, args.target, 1 if mode == "serial" else 2)
            print(f"    analysis file {out.stat().st_size / 2**20:.1f} MiB")
        anatomy(path, args.per_category, args.target)


if __name__ == "__main__":
    main()
