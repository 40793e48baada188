"""Concept relevance vectors as analysis features: ``concepts.h5:LAYER`` for ``relscope analyze``.

SpRAy then clusters samples in concept space (one row of channel relevances per sample) instead
of pixel space. :class:`ConceptFeatures` offers what the analysis reads from an attribution set:
dataset ``indices``, ``labels(index)`` and the rows of given indices (``load_rows``).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from relscope.core.concepts.concepts_file import ConceptsFile
from relscope.core.errors import AnalyzeError


class ConceptFeatures:
    """The (N, channels) concept relevances of one layer of a concepts file, by dataset index."""

    def __init__(self, spec: str) -> None:
        path, sep, layer = str(spec).rpartition(":")
        if not sep or not path or not layer:
            raise AnalyzeError(f"--features {spec!r}: expected CONCEPTS.h5:LAYER")
        with ConceptsFile(Path(path)) as concepts:
            self.relevance = concepts.relevance(layer).astype(np.float32)
            self.indices = concepts.index
            labels = concepts.label
        self.path, self.layer = Path(path), layer
        self._labels = {
            int(i): ([int(label)] if np.ndim(label) == 0 else np.flatnonzero(label).tolist())
            for i, label in zip(self.indices, labels, strict=True)
        }
        self._row = {int(i): row for row, i in enumerate(self.indices)}

    def labels(self, index: int) -> list[int]:
        """The labels of dataset sample ``index``."""
        return self._labels[int(index)]

    def load_rows(self, indices: Sequence[int]) -> np.ndarray:
        """(M, channels) float32 concept relevances of dataset ``indices``, in that order."""
        missing = [int(i) for i in indices if int(i) not in self._row]
        if missing:
            raise AnalyzeError(f"{self.path}: no concept relevances for sample {missing[0]}")
        return self.relevance[[self._row[int(i)] for i in indices]]

    def close(self) -> None:
        """Nothing to release (the rows are read on opening)."""
