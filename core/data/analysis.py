"""Analysis files (HDF5): per category, the dataset indices, embeddings and clusterings of its points.

Layout (ViRelAy-compatible, see ``docs/formats.md``)::

    /<category>/index            (M,) int
    /<category>/embedding/<name> (M, D) float, D >= 2, optional attribute 'eigenvalue' (K,)
    /<category>/cluster/<name>   (M,) int, -1 = noise, optional float attribute 'separability'

The category group carries the float attribute 'separability' (its best clustering's score) when
any clustering is scored; ViRelAy ignores both attributes. Every top-level key is a category. Several files may be read together (one analysis split by
category); a category found in two of them is an error.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path

import attrs
import h5py
import numpy as np

from relscope.core.data.atomic import atomic_path
from relscope.core.errors import AnalysisFileError

PathLike = str | os.PathLike[str]


def _float_scores(mapping: Mapping[str, float]) -> dict[str, float]:
    return {str(name): float(value) for name, value in mapping.items()}


def _frozen_arrays(mapping: Mapping[str, np.ndarray | None]) -> dict[str, np.ndarray | None]:
    return {
        str(name): (None if value is None else np.asarray(value)) for name, value in mapping.items()
    }


@attrs.define(eq=False)
class CategoryAnalysis:
    """The analysis of one category: M points, their embeddings (with eigenvalues) and clusterings."""

    index: np.ndarray = attrs.field(converter=np.asarray)
    embeddings: dict[str, np.ndarray] = attrs.field(factory=dict, converter=_frozen_arrays)
    eigenvalues: dict[str, np.ndarray | None] = attrs.field(factory=dict, converter=_frozen_arrays)
    clusterings: dict[str, np.ndarray] = attrs.field(factory=dict, converter=_frozen_arrays)
    #: separability score per clustering (the class-ranking score; unscored ones are absent)
    separability: dict[str, float] = attrs.field(factory=dict, converter=_float_scores)

    @property
    def best_clustering(self) -> tuple[str, float] | None:
        """``(name, score)`` of the best-separated clustering (first name on ties), or None."""
        if not self.separability:
            return None
        name = max(sorted(self.separability), key=lambda n: self.separability[n])
        return name, self.separability[name]

    def __attrs_post_init__(self) -> None:
        for name in self.embeddings:  # every embedding has an eigenvalue entry (None when absent)
            self.eigenvalues.setdefault(name, None)

    def __len__(self) -> int:
        return int(self.index.shape[0])

    def validate(self, where: str = "<memory>", category: str = "?") -> None:
        """Check the shapes and dtypes of the layout; errors name ``where`` and the offending key."""
        prefix = f"{where}: /{category}"
        if self.index.ndim != 1 or not np.issubdtype(self.index.dtype, np.integer):
            raise AnalysisFileError(
                f"{prefix}/index: expected a 1-D integer array, got {self.index.dtype}"
                f"{list(self.index.shape)}"
            )
        m = len(self)
        for name, emb in self.embeddings.items():
            key = f"{prefix}/embedding/{name}"
            _check_name(name, key)
            if emb.ndim != 2 or emb.shape[0] != m or emb.shape[1] < 2:
                raise AnalysisFileError(
                    f"{key}: expected shape ({m}, D) with D >= 2, got {list(emb.shape)}"
                )
            if not np.issubdtype(emb.dtype, np.floating):
                raise AnalysisFileError(f"{key}: expected a float array, got {emb.dtype}")
            eig = self.eigenvalues.get(name)
            if eig is not None and (eig.ndim != 1 or not np.issubdtype(eig.dtype, np.number)):
                raise AnalysisFileError(
                    f"{key}: attribute 'eigenvalue' must be a 1-D number array, got "
                    f"{eig.dtype}{list(eig.shape)}"
                )
        for name in self.eigenvalues:
            if name not in self.embeddings:
                raise AnalysisFileError(f"{prefix}/embedding/{name}: eigenvalues without embedding")
        for name, labels in self.clusterings.items():
            key = f"{prefix}/cluster/{name}"
            _check_name(name, key)
            if labels.shape != (m,) or not np.issubdtype(labels.dtype, np.integer):
                raise AnalysisFileError(
                    f"{key}: expected ({m},) integer cluster ids, got {labels.dtype}"
                    f"{list(labels.shape)}"
                )
        for name, score in self.separability.items():
            if name not in self.clusterings:
                raise AnalysisFileError(f"{prefix}/cluster/{name}: separability without clustering")
            if not np.isfinite(score):
                raise AnalysisFileError(
                    f"{prefix}/cluster/{name}: attribute 'separability' must be finite, got {score}"
                )


def _check_name(name: str, key: str) -> None:
    if not name or "/" in name or name in (".", ".."):
        raise AnalysisFileError(f"{key}: names must be non-empty and contain no '/'")


@attrs.define(eq=False)
class Analysis:
    """All categories of one analysis (possibly read from several files)."""

    categories: dict[str, CategoryAnalysis] = attrs.field(factory=dict)
    sources: tuple[Path, ...] = attrs.field(factory=tuple)

    @property
    def embedding_names(self) -> list[str]:
        """Embedding names offered by every category (sorted)."""
        return _common(c.embeddings for c in self.categories.values())

    @property
    def cluster_names(self) -> list[str]:
        """Clustering names offered by every category (sorted)."""
        return _common(c.clusterings for c in self.categories.values())


def _common(mappings: Iterable[Mapping[str, object]]) -> list[str]:
    names: set[str] | None = None
    for mapping in mappings:
        names = set(mapping) if names is None else names & set(mapping)
    return sorted(names or ())


def _read_category(group: h5py.Group, where: str, category: str) -> CategoryAnalysis:
    prefix = f"{where}: /{category}"
    if "index" not in group or not isinstance(group["index"], h5py.Dataset):
        raise AnalysisFileError(f"{prefix}/index: missing (every category needs an index dataset)")
    embeddings: dict[str, np.ndarray] = {}
    eigenvalues: dict[str, np.ndarray | None] = {}
    clusterings: dict[str, np.ndarray] = {}
    separability: dict[str, float] = {}
    for sub, target in (("embedding", embeddings), ("cluster", clusterings)):
        if sub not in group:
            continue
        if not isinstance(group[sub], h5py.Group):
            raise AnalysisFileError(f"{prefix}/{sub}: expected a group of datasets")
        for name, item in group[sub].items():
            if not isinstance(item, h5py.Dataset):
                raise AnalysisFileError(f"{prefix}/{sub}/{name}: expected a dataset, got a group")
            target[name] = item[()]
            if sub == "embedding":
                eig = item.attrs.get("eigenvalue")
                eigenvalues[name] = None if eig is None else np.atleast_1d(np.asarray(eig))
            elif "separability" in item.attrs:
                separability[name] = _score(item.attrs["separability"], f"{prefix}/{sub}/{name}")
    result = CategoryAnalysis(
        index=group["index"][()],
        embeddings=embeddings,
        eigenvalues=eigenvalues,
        clusterings=clusterings,
        separability=separability,
    )
    result.validate(where, category)
    return result


def _score(value: object, key: str) -> float:
    array = np.asarray(value)
    if array.shape != () or array.dtype.kind not in "iuf":
        raise AnalysisFileError(
            f"{key}: attribute 'separability' must be one number, got {value!r}"
        )
    return float(array)


def read_analysis(paths: PathLike | Iterable[PathLike]) -> Analysis:
    """Read and validate one or more analysis files; errors name the file and the HDF5 key."""
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    sources = tuple(Path(p) for p in paths)
    if not sources:
        raise AnalysisFileError("no analysis file given")
    categories: dict[str, CategoryAnalysis] = {}
    origin: dict[str, Path] = {}
    for path in sources:
        if not path.is_file():
            raise AnalysisFileError(f"{path}: analysis file not found")
        try:
            handle = h5py.File(path, "r")
        except OSError as exc:
            raise AnalysisFileError(f"{path}: not a readable HDF5 file ({exc})") from None
        with handle:
            for category, group in handle.items():
                if not isinstance(group, h5py.Group):
                    raise AnalysisFileError(
                        f"{path}: /{category}: top-level keys must be category groups, "
                        "found a dataset"
                    )
                if category in categories:
                    raise AnalysisFileError(
                        f"{path}: /{category}: category also in {origin[category]}"
                    )
                categories[category] = _read_category(group, str(path), category)
                origin[category] = path
    return Analysis(categories=categories, sources=sources)


def write_analysis(
    categories: Mapping[str, CategoryAnalysis] | Analysis,
    path: PathLike,
    *,
    compression: str | None = "gzip",
) -> Path:
    """Validate and write ``categories`` to ``path`` atomically (temporary file, then rename)."""
    if isinstance(categories, Analysis):
        categories = categories.categories
    target = Path(path)
    for category, analysis in categories.items():
        _check_name(category, f"{target}: /{category}")
        analysis.validate(str(target), category)
    with atomic_path(target) as temp, h5py.File(temp, "w") as handle:
        for category, analysis in categories.items():
            group = handle.create_group(category)
            group.create_dataset("index", data=analysis.index)
            emb_group = group.create_group("embedding")
            for name, emb in analysis.embeddings.items():
                dataset = emb_group.create_dataset(name, data=emb, compression=compression)
                eig = analysis.eigenvalues.get(name)
                if eig is not None:
                    dataset.attrs["eigenvalue"] = eig
            cl_group = group.create_group("cluster")
            for name, labels in analysis.clusterings.items():
                dataset = cl_group.create_dataset(name, data=labels, compression=compression)
                if name in analysis.separability:
                    dataset.attrs["separability"] = np.float64(analysis.separability[name])
            best = analysis.best_clustering
            if best is not None:
                group.attrs["separability"] = np.float64(best[1])
    return target
