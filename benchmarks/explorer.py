"""Explorer speed: first paint, API latency (cold vs cached, 1 vs 32 clients), memory under load.

Generates a project with ``--points`` (default 100,000) points in one category, starts
``relscope serve`` on a free loopback port and measures, side by side in one run:

* time to first paint of the embedding canvas in headless chromium (cold and warm server cache),
  and the canvas's frame time and rectangle-selection time at that size;
* median / p95 latency of the analysis (binary points), sample and heatmap routes, cold (keys never
  requested) and cached (repeated keys), at 1 and at 32 concurrent keep-alive clients;
* the server's resident memory, and a ``--duration`` second (default 120) run at 32 clients that
  counts errors and samples the memory every 10 s.

Before those, side by side with ViRelAy 1.0 (when ``virelay`` is importable: ``pip install
--no-deps corelay==1.0.0 virelay==1.0.0`` plus flask, flask-cors, gunicorn) serving the same
ViRelAy-made digits project (``virelay_project.py``: gzip chunks of 225 samples x a 4x8 tile),
120 requests per phase: p95 of analysis JSON, heatmaps already rendered and heatmaps never shown
before (fresh servers, a seeded random order of samples), at 1 and 8 clients, with each ratio
(target <= 0.5); then relscope pinned to core 0 (``taskset -c 0``) and this load generator to core
1, 32 clients for ``--pinned-duration`` s: p95 of analysis JSON (<= 30 ms) and rendered heatmaps
(<= 20 ms), errors (0). Both print the machine's load.

Targets (from the explorer issue): first paint <= 1.5 s at 100,000 points; cached heatmap p95 <=
20 ms; no errors and no memory growth over the long run. Loopback only; every loop is bounded.

    .venv/bin/python benchmarks/explorer.py [--points 100000] [--duration 120]
    .venv/bin/python benchmarks/explorer.py --only virelay|pinned [--pinned-duration 60]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import queue
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import yaml

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
CATEGORY = "n00000000"
CLASSES = 10


# -- project -------------------------------------------------------------------------------------


def write_project(root: Path, points: int, side: int = 16, seed: int = 0) -> Path:
    """A project of ``points`` grey ``side`` x ``side`` samples, all in one analysis category."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, CLASSES, size=points)
    chunk = 4096
    with h5py.File(root / "input.h5", "w") as f:
        data = f.create_dataset(
            "data", (points, 1, side, side), dtype=np.uint8, chunks=(256, 1, side, side)
        )
        for start in range(0, points, chunk):
            n = min(chunk, points - start)
            data[start : start + n] = rng.integers(0, 256, size=(n, 1, side, side), dtype=np.uint8)
        f.create_dataset("label", data=labels)
    with h5py.File(root / "attribution.h5", "w") as f:
        attribution = f.create_dataset(
            "attribution", (points, 1, side, side), dtype=np.float32, chunks=(64, 1, side, side)
        )
        for start in range(0, points, chunk):
            n = min(chunk, points - start)
            attribution[start : start + n] = rng.normal(size=(n, 1, side, side)).astype(np.float32)
        f.create_dataset("prediction", data=rng.normal(size=(points, CLASSES)).astype(np.float32))
        f.create_dataset("label", data=labels)
    centres = rng.normal(0, 4, size=(12, 8))
    cluster = rng.integers(0, 12, size=points)
    spectral = (centres[cluster] + rng.normal(size=(points, 8))).astype(np.float32)
    with h5py.File(root / "analysis.h5", "w") as f:
        group = f.create_group(CATEGORY)
        group.create_dataset("index", data=np.arange(points, dtype=np.uint32))
        emb = group.create_dataset("embedding/spectral", data=spectral)
        emb.attrs["eigenvalue"] = np.sort(rng.uniform(0, 1, 8)).astype(np.float32)
        group.create_dataset("embedding/tsne", data=spectral[:, [2, 3]].copy())
        group.create_dataset("cluster/kmeans-12", data=cluster)
        group.create_dataset("cluster/kmeans-04", data=cluster % 4)
    label_map = [
        {"index": i, "word_net_id": f"n{i:08d}", "name": f"class {i}"} for i in range(CLASSES)
    ]
    (root / "label-map.json").write_text(json.dumps(label_map))
    project = {
        "project": {
            "name": f"Benchmark {points} points",
            "model": "none",
            "label_map": "label-map.json",
            "dataset": {"name": "noise", "type": "hdf5", "path": "input.h5"},
            "attributions": {
                "attribution_method": "random",
                "attribution_strategy": "true_label",
                "sources": ["attribution.h5"],
            },
            "analyses": [{"analysis_method": "spectral", "sources": ["analysis.h5"]}],
        }
    }
    path = root / "project.yaml"
    path.write_text(yaml.safe_dump(project))
    return path


# -- server --------------------------------------------------------------------------------------


class Server:
    """``relscope serve`` on a free loopback port."""

    def __init__(self, project: Path, cwd: Path, cpus: str | None = None) -> None:
        command = [sys.executable, "-m", "relscope.core.cli", "serve", str(project), "--port", "0"]
        if cpus is not None:  # pinned: ``taskset -c CPUS``
            command = ["taskset", "-c", cpus, *command]
        self.process = subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            cwd=cwd,
        )
        lines: queue.Queue[str] = queue.Queue()
        assert self.process.stdout is not None
        stream = self.process.stdout
        threading.Thread(target=lambda: [lines.put(line) for line in stream], daemon=True).start()
        deadline = time.monotonic() + 180
        self.url = ""
        while not self.url:
            try:
                line = lines.get(timeout=1)
            except queue.Empty:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("relscope serve did not start") from None
                continue
            if " at http://" in line:
                self.url = line.rsplit(" at ", 1)[1].strip()
        self.host, port = self.url[len("http://") :].strip("/").split(":")
        self.port = int(port)

    def rss_mib(self) -> float:
        """Resident memory of the server process (MiB)."""
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


# -- browser -------------------------------------------------------------------------------------


def browser_figures(url: str, points: int) -> dict[str, float]:
    """First paint (cold and warm server cache), frame time and rectangle selection time."""
    from playwright.sync_api import sync_playwright

    figures: dict[str, float] = {}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            for label in ("cold", "warm"):
                context = browser.new_context(viewport={"width": 1400, "height": 900})
                page = context.new_page()
                page.goto(url)
                page.wait_for_function(
                    "() => window.relscope && relscope.embedding && "
                    "relscope.embedding.firstPaint !== undefined",
                    timeout=120_000,
                )
                figures[f"first paint ({label} server cache) s"] = (
                    page.evaluate("() => relscope.embedding.firstPaint") / 1000
                )
                if label == "warm":
                    frames = page.evaluate(
                        """() => {
                            const canvas = relscope.embedding;
                            const gl = canvas.renderer.gl;
                            const pixel = new Uint8Array(4);
                            const finish = () => gl && gl.readPixels(0, 0, 1, 1, gl.RGBA,
                                                                     gl.UNSIGNED_BYTE, pixel);
                            let t0 = performance.now();
                            for (let i = 0; i < 10; i++) {
                                canvas.view = { k: 1 + i / 10, tx: -i, ty: i };
                                canvas.previewUntil = 0;
                                canvas.draw();
                                finish();
                            }
                            const full = (performance.now() - t0) / 10;
                            t0 = performance.now();
                            for (let i = 0; i < 10; i++) {
                                canvas.zoomAt(300, 200, 1.05);  // as a wheel step does
                                canvas.draw();
                                finish();
                            }
                            const zooming = (performance.now() - t0) / 10;
                            canvas.resetView();
                            return [full, zooming];
                        }"""
                    )
                    figures["frame, all points ms"] = frames[0]
                    figures["frame while zooming ms"] = frames[1]
                    page.wait_for_timeout(100)
                    box = page.locator(".overlay-layer").bounding_box()
                    start = time.perf_counter()
                    page.mouse.move(box["x"] + 2, box["y"] + 2)
                    page.mouse.down()
                    page.mouse.move(  # the whole canvas: every point
                        box["x"] + box["width"] - 2, box["y"] + box["height"] - 2, steps=3
                    )
                    page.mouse.up()
                    page.wait_for_function(
                        "() => +document.querySelector('#selection-count').dataset.count > 0",
                        timeout=60_000,
                    )
                    figures["rectangle select (all points) ms"] = (
                        time.perf_counter() - start
                    ) * 1000
                    figures["selected points"] = float(
                        page.locator("#selection-count").get_attribute("data-count")
                    )
                context.close()
        finally:
            browser.close()
    figures["points"] = float(points)
    return figures


# -- HTTP load -----------------------------------------------------------------------------------


class Client:
    """One keep-alive HTTP connection."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.connection = http.client.HTTPConnection(host, port, timeout=60)

    def get(self, path: str) -> tuple[int, float]:
        start = time.perf_counter()
        try:
            self.connection.request("GET", path)
            response = self.connection.getresponse()
            response.read()
            status = response.status
        except (OSError, http.client.HTTPException):
            self.connection.close()
            self.connection = http.client.HTTPConnection(self.host, self.port, timeout=60)
            status = 0
        return status, (time.perf_counter() - start) * 1000


def run_load(server: Server, paths: list[list[str]]) -> tuple[list[float], int]:
    """Each inner list is one client's request sequence; returns latencies (ms) and errors."""
    latencies: list[float] = []
    errors = 0
    lock = threading.Lock()

    def worker(sequence: list[str]) -> None:
        nonlocal errors
        client = Client(server.host, server.port)
        for path in sequence:
            status, ms = client.get(path)
            with lock:
                latencies.append(ms)
                if status not in (200, 304):
                    errors += 1

    with ThreadPoolExecutor(max_workers=len(paths)) as pool:
        list(pool.map(worker, paths))
    return latencies, errors


def percentiles(values: list[float]) -> tuple[float, float]:
    ordered = sorted(values)
    return statistics.median(ordered), ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]


def route_paths(points: int) -> dict[str, Callable[[int], str]]:
    base = "/api/projects/0"
    analysis = f"{base}/analyses/spectral?category={CATEGORY}&format=binary"
    combos = [
        (emb, cl, x, y)
        for emb, dims in (("spectral", 8), ("tsne", 2))
        for cl in ("kmeans-12", "kmeans-04")
        for x in range(dims)
        for y in range(dims)
        if x != y
    ]

    def analysis_path(i: int) -> str:
        emb, cl, x, y = combos[i % len(combos)]
        return f"{analysis}&embedding={emb}&clustering={cl}&x={x}&y={y}"

    return {
        "analysis": analysis_path,
        "sample": lambda i: f"{base}/samples/{i % points}",
        "heatmap": lambda i: f"{base}/samples/{i % points}/heatmap?colormap=coldnhot&mode=overlay",
    }


def latency_table(server: Server, points: int) -> list[tuple[str, str, int, float, float, int]]:
    """Cold (keys never requested) and cached latencies per route, at 1 and 32 clients."""
    rows = []
    next_cold = {"analysis": 8, "sample": 1000, "heatmap": 1000}  # keys 0..7 are the cached ones
    for route, make in route_paths(points).items():
        run_load(server, [[make(k) for k in range(8)]])  # warm the cached keys
        for clients in (1, 32):
            per_client = 20 if clients == 1 else (1 if route == "analysis" else 10)
            cold_paths = []
            for _ in range(clients):
                first = next_cold[route]
                cold_paths.append([make(first + k) for k in range(per_client)])
                next_cold[route] += per_client
            latencies, errors = run_load(server, cold_paths)
            rows.append((route, "cold", clients, *percentiles(latencies), errors))
            cached_paths = [[make((c + k) % 8) for k in range(20)] for c in range(clients)]
            latencies, errors = run_load(server, cached_paths)
            rows.append((route, "cached", clients, *percentiles(latencies), errors))
    return rows


def soak(
    server: Server, duration: float, points: int
) -> tuple[int, int, list[tuple[float, float]]]:
    """32 clients for ``duration`` seconds over a bounded key space; memory sampled every 10 s."""
    routes = list(route_paths(points).values())
    stop = time.monotonic() + duration
    counts = {"requests": 0, "errors": 0}
    lock = threading.Lock()
    memory: list[tuple[float, float]] = []
    began = time.monotonic()

    def worker(seed: int) -> None:
        rng = random.Random(seed)
        client = Client(server.host, server.port)
        while time.monotonic() < stop:
            make = rng.choice(routes)
            status, _ = client.get(make(rng.randrange(2000)))
            with lock:
                counts["requests"] += 1
                if status not in (200, 304):
                    counts["errors"] += 1

    threads = [threading.Thread(target=worker, args=(seed,)) for seed in range(32)]
    for thread in threads:
        thread.start()
    while time.monotonic() < stop:
        time.sleep(min(10.0, max(0.0, stop - time.monotonic())))
        memory.append((time.monotonic() - began, server.rss_mib()))
    for thread in threads:
        thread.join(timeout=120)
    return counts["requests"], counts["errors"], memory


# -- side by side with ViRelAy, and pinned to one core ----------------------------------------------

#: requests per measured phase, and the concurrent clients of the parallel phases
PHASE_REQUESTS = 120
PARALLEL_CLIENTS = 8


def virelay_installed() -> bool:
    """True when the reference explorer (ViRelAy 1.0) can be started from this interpreter."""
    import importlib.util

    return importlib.util.find_spec("virelay") is not None


def comparison_paths(tool: str) -> tuple[Callable[[int], str], Callable[[int], str]]:
    """``(analysis JSON path of key k, heatmap path of sample i)`` in ``tool``'s API."""
    from virelay_project import CLASSES, CLUSTERINGS, EMBEDDINGS

    keys = [(c, cl, e) for c in range(CLASSES) for cl in CLUSTERINGS for e in EMBEDDINGS]

    def analysis(k: int) -> str:
        category, clustering, embedding = keys[k % len(keys)]
        return (
            f"/api/projects/0/analyses/spectral?category={category:08d}"
            f"&clustering={clustering}&embedding={embedding}"
        )

    if tool == "relscope":
        heatmap = "/api/projects/0/samples/{}/heatmap?colormap=black-fire-red&mode=attribution"
    else:
        heatmap = (
            "/api/projects/0/attributions/{}/heatmap?colorMap=black-fire-red&superimpose=false"
        )
    return analysis, heatmap.format


def wait_answering(server: Any, timeout: float = 120.0) -> None:
    """Block until ``server`` answers ``GET /api/projects`` (both tools' project list): a server
    is ready when it answers, not when it has printed its address."""
    deadline = time.monotonic() + timeout
    while True:
        status, _ = Client(server.host, server.port).get("/api/projects")
        if status == 200:
            return
        if time.monotonic() > deadline:
            raise RuntimeError("the server never answered /api/projects")
        time.sleep(0.1)


def split_clients(paths: list[str], clients: int) -> list[list[str]]:
    """``paths`` dealt round-robin to ``clients`` request sequences."""
    return [paths[c::clients] for c in range(clients)]


def load() -> str:
    """The machine's load averages (as ``uptime`` prints them)."""
    one, five, fifteen = os.getloadavg()
    return f"load {one:.2f} {five:.2f} {fifteen:.2f}"


def compare_with_virelay(root: Path, seed: int = 0) -> None:
    """p95 of analysis JSON, heatmaps already rendered and heatmaps never shown before, at 1 and 8
    clients, relscope and ViRelAy serving the same ViRelAy-made project in the same run."""
    from virelay_project import ViRelAyServer, attribution_chunks, write_virelay_digits_project

    project = write_virelay_digits_project(root, seed)
    print(f"\nViRelAy-made digits project: attribution chunks {attribution_chunks(root)}, gzip")
    order = np.random.default_rng(seed).permutation(1797).tolist()  # clicking through clusters

    def started(server: Any) -> Any:
        wait_answering(server)
        return server

    starters: dict[str, Callable[[], Any]] = {
        "relscope": lambda: started(Server(project, root)),
        "virelay": lambda: started(ViRelAyServer(project, root)),
    }
    servers = {tool: start() for tool, start in starters.items()}
    results: dict[tuple[str, str], tuple[float, float, int]] = {}

    def phase(name: str, paths_of: Callable[[str], list[list[str]]]) -> None:
        for tool, server in servers.items():
            latencies, errors = run_load(server, paths_of(tool))
            results[(name, tool)] = (*percentiles(latencies), errors)

    try:
        n = PHASE_REQUESTS
        first, second = order[:n], order[n : 2 * n]
        for clients in (1, PARALLEL_CLIENTS):
            phase(
                f"analysis JSON x{clients}",
                lambda tool, c=clients: split_clients(
                    [comparison_paths(tool)[0](k) for k in range(n)], c
                ),
            )
        # never shown before, 1 client: the first 120 samples of the order, servers fresh
        phase(
            "heatmap never shown x1",
            lambda tool: [[comparison_paths(tool)[1](i) for i in first]],
        )
        for clients in (1, PARALLEL_CLIENTS):
            phase(
                f"heatmap already rendered x{clients}",
                lambda tool, c=clients: split_clients(
                    [comparison_paths(tool)[1](i) for i in first], c
                ),
            )
        # never shown before, 8 clients: restart both servers so nothing of the file is decoded
        for tool in servers:
            servers[tool].stop()
            servers[tool] = starters[tool]()
        phase(
            f"heatmap never shown x{PARALLEL_CLIENTS}",
            lambda tool: split_clients(
                [comparison_paths(tool)[1](i) for i in second], PARALLEL_CLIENTS
            ),
        )
    finally:
        for server in servers.values():
            server.stop()
    print(f"side by side, {PHASE_REQUESTS} requests per phase ({load()}):")
    print(
        f"  {'phase':<30} {'relscope p95':>12} {'ViRelAy p95':>12} {'ratio':>7}"
        f" {'(medians ms)':>16} errors"
    )
    names = list(dict.fromkeys(name for name, _ in results))
    for name in names:
        ours, theirs = results[(name, "relscope")], results[(name, "virelay")]
        print(
            f"  {name:<30} {ours[1]:12.1f} {theirs[1]:12.1f} {ours[1] / theirs[1]:7.2f}"
            f" {ours[0]:7.1f} /{theirs[0]:7.1f}  {ours[2]}/{theirs[2]}"
        )
    print("  target: every ratio <= 0.50")


def pinned_soak(root: Path, duration: float, clients: int = 32) -> None:
    """The server pinned to core 0, this load generator to core 1: ``clients`` clients for
    ``duration`` s over analysis JSON and already-rendered heatmaps; p95 per route, errors."""
    from virelay_project import write_virelay_digits_project

    project = root / "project.yaml"
    if not project.exists():
        project = write_virelay_digits_project(root)
    if len(os.sched_getaffinity(0)) < 2:
        print("\npinned run skipped: needs two cores")
        return
    analysis, heatmap = comparison_paths("relscope")
    server = Server(project, root, cpus="0")
    before = os.sched_getaffinity(0)
    try:
        warm = [analysis(k) for k in range(80)] + [heatmap(i) for i in range(256)]
        run_load(server, split_clients(warm, 4))
        idle = server.rss_mib()
        os.sched_setaffinity(0, {1})  # threads started from here on inherit it
        stop = time.monotonic() + duration
        latencies: dict[str, list[float]] = {"analysis JSON": [], "heatmap (rendered)": []}
        errors = [0]
        lock = threading.Lock()

        def worker(seed: int) -> None:
            rng = random.Random(seed)
            client = Client(server.host, server.port)
            while time.monotonic() < stop:
                if rng.random() < 0.5:
                    route, path = "analysis JSON", analysis(rng.randrange(80))
                else:
                    route, path = "heatmap (rendered)", heatmap(rng.randrange(256))
                status, ms = client.get(path)
                with lock:
                    latencies[route].append(ms)
                    if status not in (200, 304):
                        errors[0] += 1

        threads = [threading.Thread(target=worker, args=(seed,)) for seed in range(clients)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=duration + 120)
        os.sched_setaffinity(0, before)
        print(
            f"\npinned: server on core 0, {clients} clients on core 1, {duration:.0f} s "
            f"({load()}), RSS {idle:.1f} -> {server.rss_mib():.1f} MiB:"
        )
        for route, values in latencies.items():
            median, p95 = percentiles(values)
            print(
                f"  {route:<20} {len(values):7d} requests  median {median:6.1f}  p95 {p95:6.1f} ms"
            )
        print(f"  errors {errors[0]}")
        print("  targets: heatmap p95 <= 20 ms, analysis JSON p95 <= 30 ms, 0 errors")
    finally:
        os.sched_setaffinity(0, before)
        server.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=100_000)
    parser.add_argument("--duration", type=float, default=120.0, help="soak seconds (32 clients)")
    parser.add_argument("--side", type=int, default=16, help="image side (pixels)")
    parser.add_argument("--skip-browser", action="store_true")
    parser.add_argument(
        "--only",
        choices=("all", "virelay", "pinned", "points"),
        default="all",
        help="virelay: the side-by-side phases; pinned: the taskset run; points: the large project",
    )
    parser.add_argument("--pinned-duration", type=float, default=60.0, help="pinned run seconds")
    args = parser.parse_args()
    if not 1000 <= args.points <= 2_000_000 or not 1 <= args.duration <= 600:
        parser.error("--points must lie in 1000..2000000 and --duration in 1..600")
    if not 2 <= args.side <= 64:
        parser.error("--side must lie in 2..64")

    if not 1 <= args.pinned_duration <= 600:
        parser.error("--pinned-duration must lie in 1..600")
    if args.only in ("all", "virelay", "pinned"):
        with tempfile.TemporaryDirectory(prefix="relscope-bench-virelay-") as folder:
            if args.only != "pinned":
                if virelay_installed():
                    compare_with_virelay(Path(folder))
                else:
                    print("ViRelAy is not installed: side-by-side phases skipped")
            if args.only != "virelay":
                pinned_soak(Path(folder), args.pinned_duration)
    if args.only not in ("all", "points"):
        return 0
    with tempfile.TemporaryDirectory(prefix="relscope-bench-") as folder:
        root = Path(folder)
        start = time.perf_counter()
        project = write_project(root, args.points, args.side)
        print(f"generated {args.points} points in {time.perf_counter() - start:.1f} s")
        start = time.perf_counter()
        server = Server(project, root)
        print(f"server up in {time.perf_counter() - start:.1f} s at {server.url}")
        try:
            idle = server.rss_mib()
            if not args.skip_browser and os.path.exists(CHROMIUM):
                figures = browser_figures(server.url, args.points)
                print("\nbrowser (headless chromium, software WebGL):")
                for name, value in figures.items():
                    print(f"  {name:<36} {value:10.3f}")
            print("\nAPI latency (ms)           median      p95   errors")
            rows = latency_table(server, args.points)
            by_key = {}
            for route, kind, clients, median, p95, errors in rows:
                by_key[(route, kind, clients)] = p95
                label = f"{route} {kind} x{clients}"
                print(f"  {label:<24} {median:8.2f} {p95:8.2f} {errors:8d}")
            print("\nratios (p95 cold / p95 cached):")
            for route in ("analysis", "sample", "heatmap"):
                for clients in (1, 32):
                    ratio = by_key[(route, "cold", clients)] / by_key[(route, "cached", clients)]
                    print(f"  {route} x{clients}: {ratio:.1f}x")
            loaded = server.rss_mib()
            requests, errors, memory = soak(server, args.duration, args.points)
            print(
                f"\nsoak: 32 clients, {args.duration:.0f} s: {requests} requests, {errors} errors"
            )
            for seconds, rss in memory:
                print(f"  t={seconds:6.1f} s  RSS {rss:8.1f} MiB")
            half = memory[len(memory) // 2][1] if memory else float("nan")
            last = memory[-1][1] if memory else float("nan")
            print(
                f"\nmemory: idle {idle:.1f} MiB, after latency runs {loaded:.1f} MiB, "
                f"soak mid {half:.1f} MiB -> end {last:.1f} MiB "
                f"(growth over the second half {last - half:+.1f} MiB)"
            )
            heat = by_key[("heatmap", "cached", 1)]
            print(f"targets: cached heatmap p95 x1 {heat:.1f} ms (<= 20), errors {errors} (0)")
        finally:
            server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
