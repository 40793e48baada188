"""SpRAy at scale: relscope's sparse, cached pipeline next to the dense all-pairs design.

For each N (samples of 1,024 features: 1 x 32 x 32 "attributions"), a fresh process runs the full
pipeline -- 8 eigenvalues, k-means for k = 2..10, t-SNE on the eigen-embedding -- and prints the
wall time, CPU time and peak memory of every step, then the re-run time from the cache. The dense
design (scipy pdist -> argsort kNN -> dense affinity -> eigsh -> k-means -> scikit-learn's
Barnes-Hut t-SNE) runs only where its N x N matrices fit (``--dense-max``). Up to
``--quality-max`` points, relscope's t-SNE map is compared with openTSNE's default schedule on
the same eigen-embedding (time, KL divergence over all pairs, 10-nearest-neighbour recall).

    .venv/bin/python benchmarks/spray.py --sizes 2000 8000
    .venv/bin/python benchmarks/spray.py --sizes 32000 100000 --dense-max 0 --corelay 0
    .venv/bin/python benchmarks/spray.py --sizes --corelay 8000 --repeats 3   # CoRelAy only

With CoRelAy 1.0 installed (``pip install --no-deps corelay==1.0.0`` beside its dependencies
metrohash-python and scikit-image), ``relscope analyze`` and CoRelAy's SpRAy run as whole
processes on the same file, interleaved, and the ratio of their median times is printed.

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
    """relscope's t-SNE map (spectral start, exact gradients and 50 + 200 iterations up to 3,000
    points, else Barnes-Hut or FFT and 100 + 250) next to openTSNE's default (PCA start,
    Barnes-Hut or FFT, 250 + 500 iterations) on the same eigen-embedding: time, KL, recall."""
    from relscope.plugins.processors.embeddings import TSNE

    vectors = result["outputs"]["spectral"][1]
    ours = map_quality(vectors, result["outputs"]["views"]["tsne"])
    ours["wall"] = result["steps"]["views/tsne"]["wall"]
    method = "bh" if len(vectors) < 10_000 else "fft"
    reference = TSNE(
        initialization="pca", early_exaggeration_iter=250, n_iter=500, method=method,
        n_jobs=threads,
    )  # fmt: skip
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


def write_attribution_file(folder: Path, n: int) -> tuple[Path, Path]:
    """One category of ``n`` synthetic attributions as an attribution HDF5 and its label map."""
    import h5py

    data = make_attributions(n)
    path, labels = folder / "attribution.h5", folder / "label-map.json"
    with h5py.File(path, "w") as handle:
        handle["attribution"] = data
        handle["prediction"] = np.zeros((n, 1), dtype=np.float32)
        handle["label"] = np.zeros(n, dtype=np.int64)
        handle["index"] = np.arange(n)
    labels.write_text(json.dumps([{"index": 0, "word_net_id": "n00000000", "name": "all"}]))
    return path, labels


def corelay_child(path: str, out: str) -> None:
    """CoRelAy 1.0's SpRAy as its README composes it, on the same file and parameters as
    ``relscope analyze --n-eigval 8 --n-neighbors 10 --clusters 2..10``: sum channels, flatten,
    L2-normalise; all-pairs distances, sparse 10-NN affinity, symmetric Laplacian, 8 eigenpairs;
    k-means and agglomerative for k = 2..10, DBSCAN and t-SNE on the eigenvectors."""
    import h5py
    from corelay.pipeline.spectral import SpectralClustering
    from corelay.processor.affinity import SparseKNN
    from corelay.processor.clustering import DBSCAN, AgglomerativeClustering, KMeans
    from corelay.processor.distance import SciPyPDist
    from corelay.processor.embedding import EigenDecomposition, TSNEEmbedding
    from corelay.processor.flow import Parallel

    def preprocess(batch: np.ndarray) -> np.ndarray:
        flat = batch.sum(axis=1).reshape(len(batch), -1)
        return flat / np.linalg.norm(flat, axis=1, keepdims=True)

    with h5py.File(path, "r") as handle:
        data = handle["attribution"][:]
    pipeline = SpectralClustering(
        preprocessing=preprocess,
        pairwise_distance=SciPyPDist(metric="euclidean"),
        affinity=SparseKNN(n_neighbors=N_NEIGHBORS_CLI, symmetric=True),
        embedding=EigenDecomposition(n_eigval=N_EIGVAL, is_output=True),
        clustering=Parallel(
            [
                Parallel([KMeans(n_clusters=k) for k in KS], broadcast=True),
                DBSCAN(),
                Parallel([AgglomerativeClustering(n_clusters=k) for k in KS], broadcast=True),
                TSNEEmbedding(),
            ],
            broadcast=True,
            is_output=True,
        ),
    )
    (values, vectors), (kmeans, dbscan, agglomerative, tsne) = pipeline(data)
    with h5py.File(out, "w") as handle:
        handle["eigenvalues"], handle["spectral"], handle["tsne"] = values, vectors, tsne
        handle["dbscan"] = dbscan
        for k, labels, tree in zip(KS, kmeans, agglomerative, strict=True):
            handle[f"kmeans-{k:02d}"], handle[f"agglomerative-{k:02d}"] = labels, tree


#: the issue's CLI comparison: ``--n-eigval 8 --n-neighbors 10 --clusters 2..10``
N_NEIGHBORS_CLI = 10


def _whole_process(command: list[str], env: dict | None = None) -> tuple[float, float, float, str]:
    """Run ``command``; (wall seconds, CPU seconds, its peak RSS in bytes, stderr)."""
    with tempfile.TemporaryFile("w+") as errors:
        started = time.perf_counter()
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=errors, env=env)
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        errors.seek(0)
        text = errors.read()
    if process.returncode != 0:
        sys.exit(f"failed ({process.returncode}): {' '.join(command)}\n{text[-3000:]}")
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss * 1024, text


def compare_corelay(n: int, repeats: int, threads: int, before: str | None) -> None:
    """Whole processes, interleaved: ``relscope analyze`` (cold, no cache) and CoRelAy's SpRAy on
    the same file; medians and their ratio, relscope's per-step lines of the last run.

    ``threads`` > 0 sets OMP/OpenBLAS/MKL threads of both (on a loaded machine extra threads only
    spin); ``before`` is another environment's Python whose ``relscope`` runs as a third design."""
    import importlib.util
    import statistics

    if importlib.util.find_spec("corelay") is None:
        print("CoRelAy is not installed (pip install --no-deps corelay==1.0.0 metrohash-python "
              "scikit-image): comparison skipped")  # fmt: skip
        return
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        path, labels = write_attribution_file(folder, n)
        ours = [sys.executable, "-m", "relscope.core.cli", "analyze", str(path), "--label-map",
                str(labels), "--n-eigval", str(N_EIGVAL), "--n-neighbors", str(N_NEIGHBORS_CLI),
                "--clusters", f"{KS.start}..{KS.stop - 1}", "--verbose", "--out",
                str(folder / "analysis.h5")]  # fmt: skip
        theirs = [sys.executable, __file__, "--corelay-child", str(path), str(folder / "c.h5")]
        designs = [("CoRelAy", theirs), ("relscope", ours)]
        if before:
            designs.append(("before", [before, *ours[1:]]))
        env = dict(os.environ)
        if threads > 0:
            for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
                env[name] = str(threads)
        times: dict[str, list[float]] = {design: [] for design, _ in designs}
        cpus: dict[str, list[float]] = {design: [] for design, _ in designs}
        peaks: dict[str, list[float]] = {design: [] for design, _ in designs}
        steps = ""
        print(f"\nrelscope analyze vs CoRelAy 1.0 SpRAy, N={n:,} x 1,024, whole processes, "
              f"interleaved, {repeats} each, threads: {threads or 'default'}")  # fmt: skip
        for repeat in range(repeats):
            for design, command in designs:
                load = os.getloadavg()[0]
                wall, cpu, peak, err = _whole_process(command, env)
                times[design].append(wall)
                cpus[design].append(cpu)
                peaks[design].append(peak)
                steps = err if design == "relscope" else steps
                print(f"    run {repeat + 1} {design:<9} {wall:7.1f} s wall {cpu:7.1f} s CPU  "
                      f"peak {_gib(peak)}  "
                      f"(load avg {load:.1f} before)", flush=True)  # fmt: skip
        median = {design: statistics.median(values) for design, values in times.items()}
        cpu = {design: statistics.median(values) for design, values in cpus.items()}
        print("    relscope's steps (last run, --verbose):")
        for line in steps.splitlines():
            if line.startswith("relscope: [1/1]") and ": " in line:
                print("      " + line.split(") ", 1)[-1])
        print(f"    median: relscope {median['relscope']:.1f} s, CoRelAy {median['CoRelAy']:.1f} s"
              f"  ->  relscope / CoRelAy = {median['relscope'] / median['CoRelAy']:.2f} "
              "(target <= 0.33)")  # fmt: skip
        print(f"    CPU time (robust on a loaded machine): relscope {cpu['relscope']:.1f} s, CoRelAy "
              f"{cpu['CoRelAy']:.1f} s  ->  {cpu['relscope'] / cpu['CoRelAy']:.2f}")  # fmt: skip
        if before:
            print(f"    before: {median['before']:.1f} s wall, {cpu['before']:.1f} s CPU  ->  "
                  f"before / CoRelAy = {median['before'] / median['CoRelAy']:.2f} wall, "
                  f"{cpu['before'] / cpu['CoRelAy']:.2f} CPU")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="*", default=[2000, 8000, 32000, 100000])
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
    parser.add_argument(
        "--corelay",
        type=int,
        default=8000,
        metavar="N",
        help="N of the whole-process comparison with CoRelAy 1.0 (when installed; 0: skip)",
    )
    parser.add_argument("--repeats", type=int, default=3, help="interleaved CoRelAy pairs (3)")
    parser.add_argument(
        "--corelay-threads",
        type=int,
        default=0,
        help="OMP/BLAS threads of both whole processes (0: their defaults)",
    )
    parser.add_argument(
        "--before",
        metavar="PYTHON",
        help="also run relscope analyze from this Python (e.g. an older checkout's venv)",
    )
    parser.add_argument("--child", nargs=2, metavar=("N", "DESIGN"), help=argparse.SUPPRESS)
    parser.add_argument("--corelay-child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.corelay_child:
        corelay_child(*args.corelay_child)
        return
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
    if args.corelay:
        compare_corelay(args.corelay, args.repeats, args.corelay_threads, args.before)


if __name__ == "__main__":
    main()
