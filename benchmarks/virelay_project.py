"""A digits project in the layout ViRelAy's own example scripts write, and a ViRelAy server on it.

The files are what ViRelAy's ``make_test_data.py`` / ``meta_analysis.py`` examples produce: input
``data`` and ``attribution`` float32 datasets created at full size, resizable, with ``chunks=True,
compression='gzip'`` (h5py then picks chunks of 225 samples x a 4x8 tile for 1797 x 1 x 32 x 32, so
one sample's pixels lie in 32 chunks shared with 224 other samples), ``uint16`` labels, and one
analysis group per class with ``index``, ``embedding/spectral`` (eigenvalues as an attribute),
``embedding/tsne`` and ``cluster/kmeans-NN``. The samples are scikit-learn's bundled digits
upscaled to 32 x 32; attributions and analyses are generated (no model, no download).
"""

from __future__ import annotations

import json
import os
import queue
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import h5py
import numpy as np
import yaml

CLASSES = 10
SIDE = 32
CLUSTERINGS = ("kmeans-02", "kmeans-03", "kmeans-04", "kmeans-05")
EMBEDDINGS = ("spectral", "tsne")


def _create(file: h5py.File, key: str, values: np.ndarray, dtype: str) -> None:
    """A dataset made the way ViRelAy's examples make theirs: resizable, h5py's own chunks, gzip."""
    dataset = file.create_dataset(
        key,
        shape=values.shape,
        dtype=dtype,
        maxshape=(None, *values.shape[1:]),
        chunks=True,
        compression="gzip",
    )
    dataset[:] = values


def _kmeans_like(points: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """A few Lloyd steps from random members (labels only need to look like a clustering)."""
    centres = points[rng.choice(len(points), size=k, replace=False)]
    labels = np.zeros(len(points), dtype=np.int64)
    for _ in range(10):
        distances = ((points[:, None, :] - centres[None]) ** 2).sum(axis=2)
        labels = distances.argmin(axis=1)
        for c in range(k):
            if (labels == c).any():
                centres[c] = points[labels == c].mean(axis=0)
    return labels


def write_virelay_digits_project(root: Path, seed: int = 0) -> Path:
    """Write input.h5, attribution.h5, analysis.h5, label-map.json and project.yaml under ``root``."""
    from sklearn.datasets import load_digits

    rng = np.random.default_rng(seed)
    digits = load_digits()
    images = (digits.images / 16.0).astype(np.float32).repeat(4, axis=1).repeat(4, axis=2)
    images = images[:, None]  # (N, 1, 32, 32)
    labels = digits.target.astype(np.uint16)
    count = images.shape[0]
    noise = rng.normal(0, 0.05, size=images.shape).astype(np.float32)
    attributions = (images * rng.choice([-1.0, 1.0], size=(count, 1, 1, 1)) + noise).astype(
        np.float32
    )
    predictions = rng.normal(size=(count, CLASSES)).astype(np.float32)
    predictions[np.arange(count), labels] += 3.0
    with h5py.File(root / "input.h5", "w") as file:
        _create(file, "data", images, "float32")
        _create(file, "label", labels, "uint16")
    with h5py.File(root / "attribution.h5", "w") as file:
        _create(file, "attribution", attributions, "float32")
        _create(file, "prediction", predictions, "float32")
        _create(file, "label", labels, "uint16")
    with h5py.File(root / "analysis.h5", "w") as file:
        for label in range(CLASSES):
            members = np.flatnonzero(labels == label)
            flat = attributions[members].reshape(len(members), -1).astype(np.float64)
            flat -= flat.mean(axis=0)
            u, s, _ = np.linalg.svd(flat, full_matrices=False)
            spectral = (u[:, :8] * s[:8]).astype(np.float32)
            group = file.require_group(f"{label:08d}")
            group["index"] = members.astype("uint32")
            embedding = group.require_group("embedding")
            embedding["spectral"] = spectral
            embedding["spectral"].attrs["eigenvalue"] = (s[:8] / s[0]).astype(np.float32)
            embedding["tsne"] = spectral[:, :2].copy()
            embedding["tsne"].attrs["embedding"] = "spectral"
            cluster = group.require_group("cluster")
            for name in CLUSTERINGS:
                cluster[name] = _kmeans_like(spectral, int(name.split("-")[1]), rng)
                cluster[name].attrs["embedding"] = "spectral"
    label_map = [
        {"index": i, "word_net_id": f"{i:08d}", "name": f"Class {i}"} for i in range(CLASSES)
    ]
    (root / "label-map.json").write_text(json.dumps(label_map))
    project = {
        "project": {
            "name": "Digits (ViRelAy layout)",
            "model": "none",
            "label_map": "label-map.json",
            "dataset": {"name": "digits", "type": "hdf5", "path": "input.h5"},
            "attributions": {
                "attribution_method": "generated",
                "attribution_strategy": "true_label",
                "sources": ["attribution.h5"],
            },
            "analyses": [{"analysis_method": "spectral", "sources": ["analysis.h5"]}],
        }
    }
    path = root / "project.yaml"
    path.write_text(yaml.safe_dump(project))
    return path


def attribution_chunks(root: Path) -> tuple[int, ...]:
    """The chunk shape of the written ``attribution`` dataset."""
    with h5py.File(root / "attribution.h5", "r") as file:
        return tuple(file["attribution"].chunks)


def free_port() -> int:
    """A free loopback TCP port."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ViRelAyServer:
    """``python -m virelay -H 127.0.0.1 -p PORT project.yaml`` (its built-in Flask server)."""

    def __init__(self, project: Path, cwd: Path, cpus: str | None = None) -> None:
        self.port = free_port()
        self.host = "127.0.0.1"
        command = [sys.executable, "-m", "virelay", "-H", self.host, "-p", str(self.port)]
        command.append(str(project))
        if cpus is not None:
            command = ["taskset", "-c", cpus, *command]
        self.process = subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            cwd=cwd,
            env={**os.environ, "BROWSER": "true"},  # its start-up opens a browser tab
        )
        lines: queue.Queue[str] = queue.Queue()
        assert self.process.stdout is not None
        stream = self.process.stdout
        threading.Thread(target=lambda: [lines.put(line) for line in stream], daemon=True).start()
        deadline = time.monotonic() + 120
        while True:
            if self.process.poll() is not None:
                output = "".join(lines.queue)
                raise RuntimeError(f"virelay did not start:\n{output}")
            try:
                with socket.create_connection((self.host, self.port), timeout=1):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("virelay did not start in 120 s") from None
                time.sleep(0.2)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
