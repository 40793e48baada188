"""Small explorer projects written with h5py straight from docs/formats.md (not our writers).

Two projects share three classes of 16x16 "shapes": ``alpha`` stores everything as datasets,
splits its attributions over two files with ``index`` and has two analyses (one with eigenvalues,
one with a noise cluster ``-1``); ``beta`` stores inputs and attributions as groups of per-sample
datasets, labels as n-hot vectors, and its analysis has no eigenvalues. Every number a test needs
(cluster counts, category members) is returned in :class:`ProjectFiles` so tests compare against
these, not against what the explorer says.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np
import yaml

CLASSES = [
    {"index": 0, "word_net_id": "n00000100", "name": "disc"},
    {"index": 1, "word_net_id": "n00000101", "name": "bar"},
    {"index": 2, "word_net_id": "n00000102", "name": "ring"},
]
SIZE = 16


@dataclass
class AnalysisFacts:
    """What one analysis file holds, per category: members, clusterings, embeddings."""

    method: str
    path: Path
    index: dict[str, np.ndarray] = field(default_factory=dict)
    clusterings: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)
    embeddings: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)
    eigenvalues: dict[str, dict[str, np.ndarray | None]] = field(default_factory=dict)
    separability: dict[str, dict[str, float]] = field(default_factory=dict)


@dataclass
class ProjectFiles:
    """A written project: its YAML path, name, sample count, labels and analyses."""

    yaml_path: Path
    name: str
    count: int
    labels: np.ndarray
    analyses: list[AnalysisFacts]
    images: np.ndarray  # (N, H, W, 3) float in [0, 1], what the explorer must show
    attributions: np.ndarray  # (N, 3, H, W)
    predictions: np.ndarray  # (N, K) stored model outputs
    attributed: np.ndarray | None = None  # samples with an attribution (None: all)


def shape_images(count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``count`` RGB images (N, H, W, 3) in [0, 1] of three shape classes, and their labels."""
    rng = np.random.default_rng(seed)
    labels = np.arange(count) % 3
    yy, xx = np.mgrid[0:SIZE, 0:SIZE].astype(np.float32)
    images = np.empty((count, SIZE, SIZE, 3), dtype=np.float32)
    for i, label in enumerate(labels):
        cy, cx = rng.uniform(5, 11, size=2)
        radius = np.hypot(yy - cy, xx - cx)
        if label == 0:
            mask = radius < 4
        elif label == 1:
            mask = np.abs(xx - cx) < 2
        else:
            mask = np.abs(radius - 4.5) < 1.2
        colour = rng.uniform(0.3, 1.0, size=3).astype(np.float32)
        background = rng.uniform(0.0, 0.2, size=(SIZE, SIZE, 1)).astype(np.float32)
        images[i] = np.where(mask[:, :, None], colour, background)
    return np.clip(images, 0.0, 1.0), labels


def fake_attributions(images: np.ndarray, seed: int) -> np.ndarray:
    """Signed relevance (N, 3, H, W): positive on the shape, negative in one corner."""
    rng = np.random.default_rng(seed)
    chw = images.transpose(0, 3, 1, 2).astype(np.float32)
    relevance = chw - chw.mean(axis=(2, 3), keepdims=True)
    relevance[:, :, :4, :4] -= rng.uniform(0.5, 1.0, size=(len(images), 1, 1, 1))
    return relevance.astype(np.float32)


def fake_predictions(labels: np.ndarray, seed: int) -> np.ndarray:
    """Logits (N, 3) that put the true class first except for every fifth sample."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(0.0, 0.5, size=(len(labels), 3)).astype(np.float32)
    predicted = labels.copy()
    predicted[::5] = (labels[::5] + 1) % 3
    logits[np.arange(len(labels)), predicted] += 3.0
    return logits


def _write_label_map(path: Path) -> None:
    path.write_text(json.dumps(CLASSES, indent=1))


def _blobs(count: int, dims: int, clusters: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Points of cluster 0 around (-1.5, -1.5), of cluster 1 around (1.5, 1.5): well apart."""
    centres = np.zeros((count, dims), dtype=np.float32)
    centres[:, 0] = 3.0 * np.maximum(clusters, 0) - 1.5
    centres[:, 1] = 3.0 * np.maximum(clusters, 0) - 1.5
    return centres + rng.normal(0.0, 0.25, size=(count, dims)).astype(np.float32)


def write_analysis(
    path: Path,
    method: str,
    labels: np.ndarray,
    seed: int,
    with_eigenvalues: bool,
    embedding_dims: dict[str, int],
    noise: bool,
    separability: dict[str, dict[str, float]] | None = None,
) -> AnalysisFacts:
    """One analysis file: a group per category with ``index``, embeddings and clusterings."""
    rng = np.random.default_rng(seed)
    facts = AnalysisFacts(method=method, path=path)
    with h5py.File(path, "w") as f:
        for entry in CLASSES:
            wnid = entry["word_net_id"]
            members = np.flatnonzero(labels == entry["index"]).astype(np.uint32)
            m = len(members)
            group = f.create_group(wnid)
            group.create_dataset("index", data=members)
            two = (np.arange(m) >= m // 3).astype(np.int64)  # 1/3 in cluster 0, 2/3 in cluster 1
            three = np.arange(m) % 3
            clusterings = {"kmeans-02": two, "kmeans-03": three}
            if noise:
                dbscan = two.copy()
                dbscan[:2] = -1
                clusterings["dbscan-eps=0.5"] = dbscan
            cgroup = group.create_group("cluster")
            scores = (separability or {}).get(wnid, {})
            for name, values in clusterings.items():
                dataset = cgroup.create_dataset(name, data=values)
                if name in scores:
                    dataset.attrs["separability"] = scores[name]
            if scores:
                group.attrs["separability"] = max(scores.values())
            facts.separability[wnid] = dict(scores)
            egroup = group.create_group("embedding")
            facts.embeddings[wnid] = {}
            facts.eigenvalues[wnid] = {}
            for number, (name, dims) in enumerate(embedding_dims.items()):
                coords = _blobs(m, dims, two, rng)
                if number % 2:
                    coords[:, 0] = -coords[:, 0]  # a second embedding that looks different
                dset = egroup.create_dataset(name, data=coords)
                eig = None
                if with_eigenvalues and number == 0:
                    eig = np.sort(rng.uniform(0.0, 1.0, size=dims)).astype(np.float32)
                    dset.attrs["eigenvalue"] = eig
                facts.embeddings[wnid][name] = coords
                facts.eigenvalues[wnid][name] = eig
            facts.index[wnid] = members
            facts.clusterings[wnid] = clusterings
    return facts


def _write_yaml(path: Path, body: dict) -> None:
    path.write_text(yaml.safe_dump({"project": body}, sort_keys=False))


#: the class ranking of alpha's spectral analysis: disc first (kmeans-02), then ring, then bar
ALPHA_SEPARABILITY = {
    "n00000100": {"kmeans-02": 12.5, "kmeans-03": 2.0},
    "n00000101": {"kmeans-02": 1.5, "kmeans-03": 0.25},
    "n00000102": {"kmeans-02": 3.0, "kmeans-03": 4.75},
}


#: beta's project note (relscope's own ``project.description`` key)
BETA_NOTE = "Beta: a note shown under the project tabs"


def write_alpha(root: Path, count: int = 48) -> ProjectFiles:
    """Dataset form, attributions split over two files with ``index``, two analyses."""
    root.mkdir(parents=True, exist_ok=True)
    images, labels = shape_images(count, seed=1)
    attributions = fake_attributions(images, seed=2)
    predictions = fake_predictions(labels, seed=3)
    with h5py.File(root / "input.h5", "w") as f:
        f.create_dataset("data", data=images.transpose(0, 3, 1, 2))  # (N, C, H, W) in [0, 1]
        f.create_dataset("label", data=labels.astype(np.int64))
    even, odd = np.arange(0, count, 2), np.arange(1, count, 2)
    for name, rows in (("attribution-even.h5", even), ("attribution-odd.h5", odd)):
        with h5py.File(root / name, "w") as f:
            f.create_dataset("attribution", data=attributions[rows])
            f.create_dataset("prediction", data=predictions[rows])
            f.create_dataset("label", data=labels[rows].astype(np.int64))
            f.create_dataset("index", data=rows.astype(np.uint32))
    _write_label_map(root / "label-map.json")
    spectral = write_analysis(
        root / "analysis-spectral.h5",
        "spectral",
        labels,
        seed=4,
        with_eigenvalues=True,
        embedding_dims={"spectral": 5, "tsne": 2},
        noise=False,
        separability=ALPHA_SEPARABILITY,
    )
    pca = write_analysis(
        root / "analysis-pca.h5",
        "pca",
        labels,
        seed=5,
        with_eigenvalues=False,
        embedding_dims={"pca": 3},
        noise=True,
    )
    yaml_path = root / "alpha.yaml"
    _write_yaml(
        yaml_path,
        {
            "name": "Alpha shapes",
            "model": "TinyNet",
            "label_map": "label-map.json",
            "dataset": {"name": "shapes", "type": "hdf5", "path": "input.h5"},
            "attributions": {
                "attribution_method": "epsilon_plus_flat",
                "attribution_strategy": "true_label",
                "sources": ["attribution-even.h5", "attribution-odd.h5"],
            },
            "analyses": [
                {"analysis_method": "spectral", "sources": ["analysis-spectral.h5"]},
                {"analysis_method": "pca", "sources": ["analysis-pca.h5"]},
            ],
        },
    )
    return ProjectFiles(
        yaml_path, "Alpha shapes", count, labels, [spectral, pca], images, attributions, predictions
    )


def write_beta(root: Path, count: int = 30) -> ProjectFiles:
    """Group-per-sample form (channels last, uint8), n-hot labels, one analysis, no eigenvalues."""
    root.mkdir(parents=True, exist_ok=True)
    images, labels = shape_images(count, seed=11)
    pixels = np.floor(images * 255 + 0.5).astype(np.uint8)
    shown = pixels.astype(np.float32) / 255.0
    attributions = fake_attributions(shown, seed=12)
    predictions = fake_predictions(labels, seed=13)
    nhot = np.zeros((count, 3), dtype=bool)
    nhot[np.arange(count), labels] = True
    width = len(str(count - 1))
    with h5py.File(root / "input.h5", "w") as f:
        data, label = f.create_group("data"), f.create_group("label")
        for i in range(count):
            data.create_dataset(f"{i:0{width}d}", data=pixels[i])  # (H, W, C) uint8
            label.create_dataset(f"{i:0{width}d}", data=nhot[i])
    with h5py.File(root / "attribution.h5", "w") as f:
        group = f.create_group("attribution")
        for i in range(count):
            group.create_dataset(f"{i:0{width}d}", data=attributions[i])
        f.create_dataset("prediction", data=predictions)
        f.create_dataset("label", data=nhot)
    _write_label_map(root / "label-map.json")
    tsne = write_analysis(
        root / "analysis.h5",
        "tsne",
        labels,
        seed=14,
        with_eigenvalues=False,
        embedding_dims={"tsne": 2},
        noise=True,
    )
    yaml_path = root / "beta.yaml"
    _write_yaml(
        yaml_path,
        {
            "name": "Beta shapes",
            "model": "TinyNet-B",
            "description": BETA_NOTE,
            "label_map": "label-map.json",
            "dataset": {"name": "shapes-b", "type": "hdf5", "path": "input.h5"},
            "attributions": {
                "attribution_method": "gradient",
                "attribution_strategy": "predicted_label",
                "sources": ["attribution.h5"],
            },
            "analyses": [{"analysis_method": "tsne", "sources": ["analysis.h5"]}],
        },
    )
    return ProjectFiles(
        yaml_path, "Beta shapes", count, labels, [tsne], shown, attributions, predictions
    )


def write_gamma(root: Path, count: int = 12) -> ProjectFiles:
    """An image directory (PNG files in class folders, labels from a path regex) whose
    attributions cover only the even samples; one analysis with one category."""
    from PIL import Image

    root.mkdir(parents=True, exist_ok=True)
    images, labels = shape_images(count, seed=21)
    pixels = np.floor(images * 255 + 0.5).astype(np.uint8)
    paths = []
    for i in range(count):
        path = root / "images" / f"class{labels[i]}" / f"sample-{i:03d}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(pixels[i]).save(path)
        paths.append(path)
    order = sorted(range(count), key=lambda i: str(paths[i]))  # the sample index is the sort rank
    pixels, labels = pixels[order], labels[order]
    shown = pixels.astype(np.float32) / 255.0
    attributions = fake_attributions(shown, seed=22)
    predictions = fake_predictions(labels, seed=23)
    attributed = np.arange(0, count, 2)
    with h5py.File(root / "attribution.h5", "w") as f:
        f.create_dataset("attribution", data=attributions[attributed])
        f.create_dataset("prediction", data=predictions[attributed])
        f.create_dataset("label", data=labels[attributed].astype(np.int64))
        f.create_dataset("index", data=attributed.astype(np.uint32))
    _write_label_map(root / "label-map.json")
    analysis = write_analysis(
        root / "analysis.h5",
        "spectral",
        labels,
        seed=24,
        with_eigenvalues=True,
        embedding_dims={"spectral": 3},
        noise=False,
    )
    yaml_path = root / "gamma.yaml"
    _write_yaml(
        yaml_path,
        {
            "name": "Gamma folders",
            "model": "TinyNet-C",
            "label_map": "label-map.json",
            "dataset": {
                "name": "shapes-c",
                "type": "image_directory",
                "path": "images",
                "input_width": SIZE,
                "input_height": SIZE,
                "up_sampling_method": "none",
                "down_sampling_method": "none",
                "label_index_regex": r"^.*/class(\d+)/[^/]+$",
                "label_word_net_id_regex": None,
            },
            "attributions": {
                "attribution_method": "epsilon",
                "attribution_strategy": "true_label",
                "sources": ["attribution.h5"],
            },
            "analyses": [{"analysis_method": "spectral", "sources": ["analysis.h5"]}],
        },
    )
    return ProjectFiles(
        yaml_path,
        "Gamma folders",
        count,
        labels,
        [analysis],
        shown,
        attributions,
        predictions,
        attributed,
    )


def write_project_set(root: Path) -> dict[str, ProjectFiles]:
    """Both projects under ``root`` (``root/alpha``, ``root/beta``)."""
    return {"alpha": write_alpha(root / "alpha"), "beta": write_beta(root / "beta")}
