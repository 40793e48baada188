"""First views under concurrency: a real ``relscope serve`` on a project in ViRelAy's own file
layout (gzip, h5py's chunks: every sample spread over chunks it shares with many others) answers
concurrent requests for heatmaps never shown before with correct PNGs, byte for byte the ones a
second server gives when asked one request at a time."""

from __future__ import annotations

import io
import json
import threading
from pathlib import Path

import h5py
import httpx
import numpy as np
import yaml
from PIL import Image

from tests.browser_support import Server, server_env

COUNT, SIDE, CLASSES = 400, 32, 4


def _write_virelay_layout_project(root: Path) -> tuple[Path, np.ndarray]:
    """input.h5 / attribution.h5 created full size, resizable, ``chunks=True``, gzip (as ViRelAy's
    example scripts do), an analysis with one group per class, a label map and project.yaml."""
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(11)
    images = rng.uniform(0, 1, size=(COUNT, 1, SIDE, SIDE)).astype(np.float32)
    attributions = rng.normal(size=(COUNT, 1, SIDE, SIDE)).astype(np.float32)
    labels = (np.arange(COUNT) % CLASSES).astype(np.uint16)
    for name, key, values in (
        ("input.h5", "data", images),
        ("attribution.h5", "attribution", attributions),
    ):
        with h5py.File(root / name, "w") as file:
            file.create_dataset(
                key,
                data=values,
                maxshape=(None, *values.shape[1:]),
                chunks=True,
                compression="gzip",
            )
            file.create_dataset("label", data=labels)
            if key == "attribution":
                predictions = rng.normal(size=(COUNT, CLASSES)).astype(np.float32)
                file.create_dataset("prediction", data=predictions, chunks=True, compression="gzip")
    with h5py.File(root / "analysis.h5", "w") as file:
        for label in range(CLASSES):
            members = np.flatnonzero(labels == label)
            group = file.create_group(f"{label:08d}")
            group["index"] = members.astype(np.uint32)
            group["embedding/spectral"] = rng.normal(size=(members.size, 4)).astype(np.float32)
            group["cluster/kmeans-02"] = (members % 2).astype(np.int64)
    label_map = [{"index": i, "word_net_id": f"{i:08d}", "name": f"class {i}"} for i in range(4)]
    (root / "label-map.json").write_text(json.dumps(label_map))
    project = {
        "project": {
            "name": "ViRelAy layout",
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
    (root / "project.yaml").write_text(yaml.safe_dump(project))
    return root / "project.yaml", attributions


def _symmetric_indices(attribution: np.ndarray) -> np.ndarray:
    """Colour-map indices by the documented formula: floor(255 * (r / max|r| + 1) / 2 + 0.5)."""
    relevance = attribution.astype(np.float64).sum(axis=0)
    unit = (relevance / np.abs(relevance).max() + 1.0) / 2.0
    return np.floor(unit * 255.0 + 0.5).astype(np.uint8)


def _heatmap_path(index: int, mode: str) -> str:
    return f"api/projects/0/samples/{index}/heatmap?colormap=black-fire-red&mode={mode}"


def test_concurrent_first_views_return_the_serial_pngs(tmp_path: Path) -> None:
    yaml_path, attributions = _write_virelay_layout_project(tmp_path / "project")
    with h5py.File(tmp_path / "project" / "attribution.h5", "r") as file:
        chunks = file["attribution"].chunks
    assert chunks[0] > 8 and chunks[2] < SIDE  # chunk rows of many samples, each split up
    order = np.random.default_rng(12).permutation(COUNT)[:96].tolist()
    paths = [_heatmap_path(i, mode) for i in order for mode in ("attribution", "overlay")]

    concurrent = Server([str(yaml_path), "--port", "0"], server_env(), tmp_path)
    answers: dict[str, httpx.Response] = {}
    lock = threading.Lock()
    try:
        barrier = threading.Barrier(8)

        def client(number: int) -> None:
            with httpx.Client(base_url=concurrent.url, timeout=60) as http:
                barrier.wait()
                for path in paths[number::8]:
                    response = http.get(path)
                    with lock:
                        answers[path] = response

        threads = [threading.Thread(target=client, args=(n,)) for n in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
    finally:
        concurrent.stop()
    assert len(answers) == len(paths)

    serial = Server([str(yaml_path), "--port", "0"], server_env(), tmp_path)
    try:
        with httpx.Client(base_url=serial.url, timeout=60) as http:
            for path in paths:
                expected = http.get(path)
                got = answers[path]
                assert got.status_code == expected.status_code == 200, path
                assert got.headers["content-type"] == "image/png"
                assert got.content == expected.content, path
                assert got.headers["etag"] == expected.headers["etag"]
    finally:
        serial.stop()

    for index in order:
        png = answers[_heatmap_path(index, "attribution")].content
        with Image.open(io.BytesIO(png)) as image:
            assert image.mode == "P" and image.size == (SIDE, SIDE)
            pixels = np.asarray(image)
        np.testing.assert_array_equal(pixels, _symmetric_indices(attributions[index]))
        with Image.open(io.BytesIO(answers[_heatmap_path(index, "overlay")].content)) as image:
            assert image.mode == "RGB" and image.size == (SIDE, SIDE)
