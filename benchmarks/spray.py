"""SpRAy at scale: relscope's sparse, cached pipeline next to the dense all-pairs design.

For each N (samples of 1,024 features: 1 x 32 x 32 "attributions"), a fresh process runs the full
pipeline -- 8 eigenvalues, k-means for k = 2..10, t-SNE on the eigen-embedding -- and prints the
wall time, CPU time and peak memory of every step, then the re-run time from the cache. The dense
design (scipy pdist -> argsort kNN -> dense affinity -> eigsh -> k-means -> scikit-learn's
Barnes-Hut t-SNE) runs only where its N x N matrices fit (``--dense-max``). Up to
``--quality-max`` points, relscope's t-SNE map is compared with openTSNE's default schedule on
the same eigen-embedding (time, KL divergence over all pairs, 10-nearest-neighbour recall).

    .venv/bin/python benchmarks/spray.py --sizes 2000 8000
    .venv/bin/python benchmarks/spray.py --sizes 32000 100000 --dense-max 0

Targets: N = 8,000 cold < 15 s and cached re-run < 0.5 s; N = 100,000 < 15 min, peak < 4 GiB.
Timings on a shared machine vary with its load; the load average is printed with each run.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

FEATURES = (1, 32, 32)
KS = range(2, 11)
N_EIGVAL = 8
N_NEIGHBORS = 32


def make_attributions(n: int, seed: int = 0) -> np.ndarray:
    """(n, 1, 32, 32) float32: six relevance shapes plus noise, 20% with a corner artefact."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:32, :32]
    centres = rng.uniform(6, 26, size=(6, 2))
    shapes = np.stack(
        [np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / 30.0) for cy, cx in centres]
    ).astype(np.float32)
    data = np.empty((n, *FEATURES), dtype=np.float32)
    for start in range(0, n, 8192):  # chunks keep the temporaries small
        stop = min(start + 8192, n)
        which = rng.integers(0, 6, stop - start)
        block = shapes[which] * rng.uniform(0.5, 1.5, (stop - start, 1, 1)).astype(np.float32)
        block += rng.normal(scale=0.3, size=block.shape).astype(np.float32)
        artefact = rng.random(stop - start) < 0.2
        block[artefact, 26:31, 1:6] += 1.0
        data[start:stop, 0] = block
    return data


class MemorySampler:
    """Polls this process's resident memory every few ms; ``peak`` since the last ``reset``."""

    def __init__(self, interval: float = 0.005) -> None:
        self.interval = interval
        self.peak = 0
        self._stop = threading.Event()
        self._page = os.sysconf("SC_PAGE_SIZE")
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def rss(self) -> int:
        with open("/proc/self/statm") as handle:
            return int(handle.read().split()[1]) * self._page

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.rss())
            time.sleep(self.interval)

    def reset(self) -> None:
        self.peak = self.rss()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


def _ours(data: np.ndarray, threads: int, sampler: MemorySampler) -> dict:
    from relscope.core.analysis import Parallel, Sequential, Store
    from relscope.plugins.processors.clusterings import KMeans
    from relscope.plugins.processors.embeddings import TSNE, LeadingEigenvectors
    from relscope.plugins.processors.spray import Spray

    def pipeline() -> Spray:  # the full pipeline; k-means on the k leading eigenvectors
        kmeans = {f"kmeans-{k:02d}": Sequential([LeadingEigenvectors(k), KMeans(k)]) for k in KS}
        return Spray(
            n_eigval=N_EIGVAL,
            n_neighbors=N_NEIGHBORS,
            clustering=Parallel(kmeans, broadcast=True),
            views=Parallel({"tsne": TSNE(n_jobs=threads)}, broadcast=True),
        )

    steps: dict[str, dict] = {}
    clocks: dict[str, tuple[float, float]] = {}

    def progress(event) -> None:
        step = (
            event.path[0] if event.path[0] in ("preprocess", "clustering") else "/".join(event.path)
        )
        if event.status == "start":
            sampler.reset()
            clocks[step] = clocks.get(step) or (time.perf_counter(), time.process_time())
        elif event.status == "done":
            record = steps.setdefault(step, {"peak": 0})
            wall0, cpu0 = clocks[step]
            record["wall"] = time.perf_counter() - wall0
            record["cpu"] = time.process_time() - cpu0
            record["peak"] = max(record["peak"], sampler.peak)

    with tempfile.TemporaryDirectory() as folder:
        cache = Path(folder) / "cache.h5"
        wall, cpu = time.perf_counter(), time.process_time()
        outputs = pipeline()(data, io=Store(cache), progress=progress)
        total = {"wall": time.perf_counter() - wall, "cpu": time.process_time() - cpu}
        events: list = []
        wall = time.perf_counter()
        pipeline()(data, io=Store(cache), progress=events.append)
        rerun = time.perf_counter() - wall
        cached = sum(e.status == "cached" for e in events)
        computed = sum(e.status == "done" for e in events)
        size = cache.stat().st_size
    return {
        "outputs": outputs,
        "steps": steps,
        "total": total,
        "rerun": rerun,
        "rerun_cached": cached,
        "rerun_computed": computed,
        "cache_bytes": size,
    }


def _dense(data: np.ndarray, threads: int, sampler: MemorySampler) -> dict:
    """The all-pairs design: every distance, argsort kNN, dense affinity and Laplacian."""
    import scipy.sparse.linalg
    from scipy.spatial.distance import pdist, squareform
    from sklearn.cluster import KMeans
    from sklearn.manifold import TSNE

    steps: dict[str, dict] = {}

    def step(name, func, *args):
        sampler.reset()
        wall, cpu = time.perf_counter(), time.process_time()
        result = func(*args)
        steps[name] = {
            "wall": time.perf_counter() - wall,
            "cpu": time.process_time() - cpu,
            "peak": sampler.peak,
        }
        return result

    def preprocess(x):
        flat = x.reshape(len(x), -1).astype(np.float64)
        return flat / np.linalg.norm(flat, axis=1, keepdims=True)

    def distances(x):
        return squareform(pdist(x))

    def affinity(d):
        knn = np.argsort(d, axis=1)[:, 1 : N_NEIGHBORS + 1]
        rows = np.arange(len(d))[:, None]
        sigma = np.median(d[rows, knn])
        w = np.zeros_like(d)
        w[rows, knn] = np.exp(-(d[rows, knn] ** 2) / (2 * sigma**2))
        return np.maximum(w, w.T)

    def embedding(w):
        scale = 1.0 / np.sqrt(w.sum(axis=1))
        normalised = w * scale[:, None] * scale[None, :]
        return scipy.sparse.linalg.eigsh(normalised, k=N_EIGVAL, which="LA")

    def clusterings(vectors):
        return [KMeans(k, n_init=4, random_state=0).fit_predict(vectors[:, -k:]) for k in KS]

    def tsne(vectors):
        return TSNE(method="barnes_hut", random_state=0, n_jobs=threads).fit_transform(vectors)

    wall, cpu = time.perf_counter(), time.process_time()
    x = step("preprocess", preprocess, data)
    d = step("distances", distances, x)
    w = step("affinity", affinity, d)
    del d
    _, vectors = step("spectral", embedding, w)
    del w
    step("clustering", clusterings, vectors)
    step("views/tsne", tsne, vectors)
    total = {"wall": time.perf_counter() - wall, "cpu": time.process_time() - cpu}
    return {"steps": steps, "total": total}


def map_quality(vectors: np.ndarray, view: np.ndarray) -> dict:
    """KL(P || Q) of a 2-D map against perplexity-30 affinities of its input, computed here over
    all pairs (in row blocks), and the share of each point's 10 nearest neighbours it keeps."""
    from openTSNE.affinity import PerplexityBasedNN
    from sklearn.neighbors import NearestNeighbors

    points = np.asarray(vectors, dtype=np.float64)
    view = np.asarray(view, dtype=np.float64)
    p = PerplexityBasedNN(points, perplexity=30, method="exact", verbose=False).P.tocoo()
    z = -float(len(view))  # the diagonal's 1 / (1 + 0) terms are not pairs
    for start in range(0, len(view), 1024):
        block = view[start : start + 1024]
        squared = (block**2).sum(1)[:, None] + (view**2).sum(1)[None, :] - 2 * block @ view.T
        z += float((1.0 / (1.0 + np.maximum(squared, 0.0))).sum())
    q = 1.0 / (1.0 + ((view[p.row] - view[p.col]) ** 2).sum(1)) / z
    kl = float((p.data * np.log(p.data / q)).sum())

    def neighbours(x: np.ndarray) -> np.ndarray:
        return NearestNeighbors(n_neighbors=11).fit(x).kneighbors(x, return_distance=False)[:, 1:]

    here, there = neighbours(points), neighbours(view)
    recall = float((there[:, :, None] == here[:, None, :]).any(-1).mean())
    return {"kl": kl, "recall": recall}


def _tsne_comparison(result: dict, threads: int) -> dict:
    """relscope's t-SNE map next to openTSNE's default schedule (250 + 500 iterations, the
    previous setting) on the same eigen-embedding: time, KL divergence, neighbour recall."""
    from relscope.plugins.processors.embeddings import TSNE

    vectors = result["outputs"]["spectral"][1]
    ours = map_quality(vectors, result["outputs"]["views"]["tsne"])
    ours["wall"] = result["steps"]["views/tsne"]["wall"]
    reference = TSNE(early_exaggeration_iter=250, n_iter=500, n_jobs=threads)
    wall = time.perf_counter()
    view = reference(vectors)
    theirs = map_quality(vectors, view)
    theirs["wall"] = time.perf_counter() - wall
    return {"relscope": ours, "openTSNE default": theirs}


def child(n: int, design: str, threads: int, quality: bool) -> None:
    """Run one design at one N in this (fresh) process and print its figures as JSON."""
    from threadpoolctl import threadpool_limits

    started = time.perf_counter()  # imports once, outside the step timings
    import openTSNE  # noqa: F401
    import scipy.sparse.linalg  # noqa: F401
    import sklearn.cluster  # noqa: F401
    import sklearn.decomposition  # noqa: F401
    import sklearn.manifold  # noqa: F401
    import sklearn.neighbors  # noqa: F401

    imports = time.perf_counter() - started
    data = make_attributions(n)
    sampler = MemorySampler()
    with threadpool_limits(threads):
        result = (_ours if design == "relscope" else _dense)(data, threads, sampler)
        result["peak_rss"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        if quality and design == "relscope":  # after the peak: the comparison is not timed
            result["tsne"] = _tsne_comparison(result, threads)
    result.pop("outputs", None)
    sampler.stop()
    result["load"] = os.getloadavg()[0]
    result["imports"] = imports
    print(json.dumps(result))


def _gib(value: float) -> str:
    return f"{value / 2**30:.2f} GiB"


def _report(n: int, design: str, result: dict) -> None:
    total = result["total"]
    print(
        f"N={n:>7,}  {design:<8}  total {total['wall']:8.1f} s wall  {total['cpu']:8.1f} s CPU  "
        f"peak {_gib(result['peak_rss'])}  (load avg {result['load']:.1f}; "
        f"imports {result['imports']:.1f} s before the clock)"
    )
    slowest = max(result["steps"], key=lambda s: result["steps"][s]["wall"])
    for name, step in result["steps"].items():
        mark = "  <- dominates" if name == slowest else ""
        print(
            f"    {name:<22} {step['wall']:8.2f} s wall {step['cpu']:8.2f} s CPU  "
            f"peak {_gib(step['peak'])}{mark}"
        )
    for name, figures in result.get("tsne", {}).items():
        print(
            f"    t-SNE {name:<16} {figures['wall']:8.2f} s wall  KL {figures['kl']:.3f}  "
            f"10-NN recall {figures['recall']:.3f}"
        )
    if "tsne" in result:
        ours, theirs = result["tsne"]["relscope"], result["tsne"]["openTSNE default"]
        print(
            f"    t-SNE relscope / openTSNE default: {ours['wall'] / theirs['wall']:.2f}x time, "
            f"{ours['kl'] / theirs['kl']:.2f}x KL, {ours['recall'] / theirs['recall']:.3f}x recall"
        )
    if "rerun" in result:
        print(
            f"    cached re-run          {result['rerun']:8.2f} s wall  "
            f"({result['rerun_cached']} steps read, {result['rerun_computed']} computed, "
            f"cache {_gib(result['cache_bytes'])})"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[2000, 8000, 32000, 100000])
    parser.add_argument(
        "--dense-max",
        type=int,
        default=8000,
        help="largest N for the dense design (its memory is ~3 x 8 N^2 bytes)",
    )
    parser.add_argument("--threads", type=int, default=2, help="BLAS/OpenMP/t-SNE threads")
    parser.add_argument(
        "--quality-max",
        type=int,
        default=8000,
        help="largest N whose t-SNE map is compared with openTSNE's default schedule (KL over "
        "all pairs; runs a second t-SNE after the timed pipeline)",
    )
    parser.add_argument("--child", nargs=2, metavar=("N", "DESIGN"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(
            int(args.child[0]), args.child[1], args.threads, int(args.child[0]) <= args.quality_max
        )
        return
    print(
        f"SpRAy benchmark: {FEATURES} features, {N_EIGVAL} eigenvalues, k-means k=2..10, "
        f"t-SNE; {args.threads} threads, {os.cpu_count()} CPUs"
    )
    for n in args.sizes:
        designs = ["relscope"] + (["dense"] if n <= args.dense_max else [])
        results = {}
        for design in designs:
            done = subprocess.run(
                [
                    sys.executable,
                    __file__,
                    "--child",
                    str(n),
                    design,
                    "--threads",
                    str(args.threads),
                    "--quality-max",
                    str(args.quality_max),
                ],
                capture_output=True,
                text=True,
            )
            if done.returncode != 0:
                print(f"N={n:,} {design}: failed\n{done.stderr[-2000:]}")
                continue
            results[design] = json.loads(done.stdout.strip().splitlines()[-1])
            _report(n, design, results[design])
        if len(results) == 2:
            ours, dense = results["relscope"], results["dense"]
            print(
                f"    dense / relscope: {dense['total']['wall'] / ours['total']['wall']:.1f}x time, "
                f"{dense['peak_rss'] / ours['peak_rss']:.1f}x peak memory; dense has no cache, "
                f"relscope's re-run is {dense['total']['wall'] / max(ours['rerun'], 1e-9):.0f}x "
                "faster than the dense design's run"
            )
        sys.stdout.flush()


if __name__ == "__main__":
    main()
