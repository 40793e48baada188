"""The projects one explorer serves: each project file opened and validated once, at start.

Only the files a project names are ever opened; routes address samples, categories and names,
never paths. Reads run side by side in the server's worker threads (h5py makes each HDF5 call
atomic; image files are opened per read), so one slow read never queues the others. HDF5 samples
and attributions are read a decoded chunk row at a time through one bounded cache
(``relscope.core.data.chunk_blocks``): a chunk is inflated once for all the samples it holds, off
h5py's lock, while concurrent first views of one chunk wait on that single decode.
"""

from __future__ import annotations

import functools
import hashlib
import os
import threading
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from relscope.core.data.analysis import Analysis, read_analysis
from relscope.core.data.chunk_blocks import DecodedBlockCache
from relscope.core.data.label_map import LabelMap
from relscope.core.data.project import Project, read_project
from relscope.core.errors import ExplorerError, RelscopeError
from relscope.plugins.viewers.explorer.category_ranking import ranked_categories


def _files_version(paths: Iterable[Path]) -> str:
    """A short fingerprint of the files' names, sizes and modification times (for cache URLs)."""
    digest = hashlib.blake2b(digest_size=6)
    for path in sorted({Path(p) for p in paths}):
        try:
            stat = path.stat()
            digest.update(f"{path}|{stat.st_size}|{stat.st_mtime_ns};".encode())
        except OSError:
            digest.update(f"{path}|missing;".encode())
    return digest.hexdigest()


#: decoded chunk rows kept for all the projects served together, in bytes
BLOCK_CACHE_BYTES = 64 * 1024 * 1024
#: a data set or attribution dataset decoding to at most this is decoded whole in the background
READ_AHEAD_BYTES = 16 * 1024 * 1024
#: at most this much of all the projects served together is read ahead, in bytes
READ_AHEAD_BUDGET = 32 * 1024 * 1024
#: how long closing waits for the read-ahead to finish the chunk row it is decoding, in s
STOP_TIMEOUT_S = 10.0


def explorer_block_cache() -> DecodedBlockCache:
    """The explorer's cache of decoded chunk rows (bounded; small files are read ahead)."""
    return DecodedBlockCache(
        BLOCK_CACHE_BYTES, read_ahead_bytes=READ_AHEAD_BYTES, read_ahead_budget=READ_AHEAD_BUDGET
    )


class ServedProject:
    """One opened project: label map, inputs, attributions (optional) and analyses."""

    def __init__(
        self, project_id: str, project: Project, blocks: DecodedBlockCache | None = None
    ) -> None:
        self.id = project_id
        self.project = project
        self.name = project.name
        self.label_map: LabelMap = project.read_label_map()
        self.inputs = project.open_inputs(self.label_map)
        self.attributions = None
        if project.attributions is not None:
            self.attributions = project.open_attributions(self.label_map, self.inputs)
        #: decoded chunk rows of the input and attribution files (shared by the projects served)
        self.blocks = blocks if blocks is not None else explorer_block_cache()
        for source in (self.inputs, self.attributions):
            if hasattr(source, "use_block_cache"):
                source.use_block_cache(self.blocks)
        self.analyses: dict[str, Analysis] = {}
        for spec in project.analyses:
            analysis = read_analysis(spec.sources)
            self._check_analysis(spec.analysis_method, analysis)
            self.analyses[spec.analysis_method] = analysis
        self._predicted_lock = threading.Lock()
        files = [project.label_map, project.dataset.path]
        if project.path is not None:
            files.append(project.path)
        if project.attributions is not None:
            files.extend(project.attributions.sources)
        for spec in project.analyses:
            files.extend(spec.sources)
        self.version = _files_version(files)

    def _check_analysis(self, method: str, analysis: Analysis) -> None:
        size = len(self.inputs)
        sources = ", ".join(str(p) for p in analysis.sources)
        for category, part in analysis.categories.items():
            index = part.index
            if index.size and (index.min() < 0 or index.max() >= size):
                raise ExplorerError(
                    f"{sources}: /{category}/index points outside the data set of {size} samples "
                    f"(analysis {method!r} of project {self.name!r})"
                )

    def __len__(self) -> int:
        return len(self.inputs)

    @property
    def is_tokens(self) -> bool:
        """True for a token project (``dataset.type: tokens``): samples are texts, not images."""
        return bool(getattr(self.inputs, "is_tokens", False))

    @property
    def has_attributions(self) -> bool:
        """True when the project names attribution files."""
        return self.attributions is not None

    def category_name(self, category: str) -> str:
        """The label-map name of a category id (word_net_id), or the id itself."""
        for entry in self.label_map:
            if entry.word_net_id == category:
                return entry.name
        return category

    @functools.cached_property
    def first_labels(self) -> np.ndarray:
        """(N,) int32: the first label of every sample, -1 for a sample without labels."""
        rows = self.inputs.label_column.rows
        return np.fromiter((row[0] if row else -1 for row in rows), dtype=np.int32, count=len(rows))

    @functools.cached_property
    def predicted(self) -> np.ndarray:
        """(N,) int32: the predicted class (argmax of the stored output), -1 without attribution."""
        result = np.full(len(self.inputs), -1, dtype=np.int32)
        if self.attributions is not None:
            with self._predicted_lock:  # one pass at a time over the predictions
                result[self.attributions.indices] = self.attributions.predicted_classes()
        return result

    def image(self, index: int) -> np.ndarray:
        """Sample ``index`` as (H, W, C) float32 in [0, 1]."""
        return self.inputs.image(index)

    def shape(self, index: int) -> tuple[int, int, int]:
        """The (H, W, C) shape of sample ``index`` (from metadata where the source allows)."""
        return self.inputs.shape(index)

    def has_attribution(self, index: int) -> bool:
        """True when sample ``index`` has a stored attribution."""
        return self.attributions is not None and index in self.attributions

    def attribution(self, index: int) -> np.ndarray:
        """The (C, H, W) attribution of sample ``index``."""
        assert self.attributions is not None
        return self.attributions.attribution(index)

    def prediction(self, index: int) -> np.ndarray | None:
        """The stored model output (K,) of sample ``index``, or None."""
        if not self.has_attribution(index):
            return None
        assert self.attributions is not None
        return self.attributions.prediction(index)

    def predictions(self, indices: Sequence[int]) -> dict[int, np.ndarray]:
        """The stored model outputs of ``indices`` that have one, read in one pass."""
        return {} if self.attributions is None else self.attributions.predictions(indices)

    def summary(self) -> dict[str, Any]:
        """The ``/api/projects`` entry."""
        return {
            "id": self.id,
            "name": self.name,
            "model": self.project.model,
            "dataset": self.project.dataset.name,
            "description": self.project.description,
        }

    def details(self) -> dict[str, Any]:
        """The ``/api/projects/{id}`` document: labels and every analysis with its choices."""
        analyses = []
        for method, analysis in self.analyses.items():
            embeddings = []
            for name in analysis.embedding_names:
                dims = {part.embeddings[name].shape[1] for part in analysis.categories.values()}
                eig = any(
                    part.eigenvalues.get(name) is not None for part in analysis.categories.values()
                )
                embeddings.append({"name": name, "dims": min(dims), "eigenvalues": eig})
            analyses.append(
                {
                    "method": method,
                    "categories": ranked_categories(analysis, self.category_name),
                    "clusterings": analysis.cluster_names,
                    "embeddings": embeddings,
                }
            )
        attributions = self.project.attributions
        return {
            **self.summary(),
            "size": len(self.inputs),
            "data_type": self.project.dataset.type,
            "version": self.version,
            "has_attributions": self.has_attributions,
            "attribution": None
            if attributions is None
            else {
                "method": attributions.attribution_method,
                "strategy": attributions.attribution_strategy,
                "count": len(self.attributions or ()),
            },
            "labels": self.label_map.as_list(),
            "analyses": analyses,
        }

    def start_read_ahead(self) -> None:
        """Queue the attribution and input datasets for background decoding (small ones only,
        attributions first: heatmaps are the first views), so first clicks find them decoded."""
        for source in (self.attributions, self.inputs):
            if hasattr(source, "start_read_ahead"):
                try:
                    source.start_read_ahead()
                except (RelscopeError, OSError, KeyError):
                    pass  # a file gone since it was opened: its requests say so, as one line

    def close(self) -> None:
        """Stop the read-ahead and close the project's open files."""
        if self.blocks.read_ahead is not None:
            self.blocks.read_ahead.stop()
            self.blocks.read_ahead.join(timeout=STOP_TIMEOUT_S)  # the row in progress
        self.inputs.close()
        if self.attributions is not None:
            self.attributions.close()


def load_projects(paths: Sequence[str | os.PathLike[str]]) -> list[ServedProject]:
    """Read, open and validate every project file; names must be unique among them."""
    if not paths:
        raise ExplorerError("serve needs at least one project file")
    served: list[ServedProject] = []
    seen: dict[str, str] = {}
    blocks = explorer_block_cache()
    for number, path in enumerate(paths):
        project = read_project(path)
        if project.name in seen:
            raise ExplorerError(
                f"{path}: project name {project.name!r} is also used by {seen[project.name]}; "
                "names must be unique among the projects served together"
            )
        seen[project.name] = str(path)
        served.append(ServedProject(str(number), project, blocks))
    return served
