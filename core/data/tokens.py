"""Token data sets: an input HDF5 file with ``input_ids`` and ``attention_mask`` (N, T), ``label``,
and a vocabulary to show ids as text (a ``tokens`` string dataset, or a local ``tokenizer.json``).

:class:`TokenInputs` validates on open (ids outside the vocabulary, a mask of another shape, no
vocabulary: one line naming the file and key) and is an InputSource whose samples are the
``(2, T)`` int64 stack of ids and mask, the form token attribution runs consume.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from relscope.core.data.hdf5 import PerProcessHdf5, open_hdf5, require
from relscope.core.data.inputs import InputSource
from relscope.core.data.label_map import LabelMap
from relscope.core.data.labels import read_labels
from relscope.core.errors import DataFormatError

#: root attribute of a token file naming its tokenizer.json (relative to the file's folder)
TOKENIZER_ATTRIBUTE = "tokenizer"
#: rows read at a time while checking ids and mask
CHECK_ROWS = 4096


def is_token_file(path: str | os.PathLike[str]) -> bool:
    """True when ``path`` is an HDF5 file with an ``input_ids`` key (a token data set)."""
    try:
        with h5py.File(path, "r") as file:
            return "input_ids" in file
    except OSError:
        return False


def read_vocabulary(file: h5py.File, path: Path) -> list[str]:
    """The id -> token text list of an open token file: its ``tokens`` dataset, else the
    tokenizer.json named by its ``tokenizer`` attribute or lying beside it (read with
    ``tokenizers``)."""
    source = str(path)
    if "tokens" in file:
        node = file["tokens"]
        if not isinstance(node, h5py.Dataset) or node.ndim != 1 or node.dtype.kind not in "SOU":
            raise DataFormatError(f"{source}: key 'tokens' must be a 1-D dataset of strings")
        return [v.decode("utf-8") if isinstance(v, bytes) else str(v) for v in node[()]]
    named = file.attrs.get(TOKENIZER_ATTRIBUTE)
    if isinstance(named, bytes):
        named = named.decode()
    candidate = path.parent / (named or "tokenizer.json")
    if not candidate.is_file():
        raise DataFormatError(
            f"{source}: no vocabulary: expected key 'tokens' (strings) or a tokenizer.json "
            f"({candidate} not found)"
        )
    try:
        from tokenizers import Tokenizer
    except ImportError:
        raise DataFormatError(
            f"{source}: reading {candidate.name} needs the tokenizers package: "
            "pip install 'relscope[transformers]'"
        ) from None
    try:
        tokenizer = Tokenizer.from_file(str(candidate))
    except Exception as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DataFormatError(f"{candidate}: not a readable tokenizer.json ({reason})") from None
    size = tokenizer.get_vocab_size(with_added_tokens=True)
    return [tokenizer.id_to_token(i) or "" for i in range(size)]


class TokenInputs(PerProcessHdf5, InputSource):
    """A token data set; ``sample(i)`` is the (2, T) int64 stack of ``input_ids`` and mask."""

    is_tokens = True

    def __init__(self, path: str | os.PathLike[str], label_map: LabelMap | None = None) -> None:
        self.path = Path(path)
        self.label_map = label_map
        source = str(path)
        with open_hdf5(path, "input HDF5 file") as file:
            ids = require(file, "input_ids", source)
            if not isinstance(ids, h5py.Dataset) or ids.ndim != 2 or ids.dtype.kind not in "iu":
                raise DataFormatError(
                    f"{source}: key 'input_ids' must be an (N, T) integer dataset, got "
                    f"{getattr(ids, 'dtype', 'a group')}{list(getattr(ids, 'shape', []))}"
                )
            mask = require(file, "attention_mask", source)
            if not isinstance(mask, h5py.Dataset) or mask.shape != ids.shape:
                raise DataFormatError(
                    f"{source}: key 'attention_mask' must have the shape of 'input_ids' "
                    f"{tuple(ids.shape)}, got {tuple(getattr(mask, 'shape', ()))}"
                )
            if mask.dtype.kind not in "biu":
                raise DataFormatError(
                    f"{source}: key 'attention_mask' must be bool or 0/1 integers, got {mask.dtype}"
                )
            self._labels = read_labels(require(file, "label", source), source)
            if len(self._labels) != ids.shape[0]:
                raise DataFormatError(
                    f"{source}: key 'label' has {len(self._labels)} rows but key 'input_ids' has "
                    f"{ids.shape[0]}"
                )
            self.vocabulary = read_vocabulary(file, self.path)
            self._check_ids(ids, mask, source)
            if label_map is not None:
                self._labels.check(label_map, source)
            self.length = int(ids.shape[1])

    def _check_ids(self, ids: h5py.Dataset, mask: h5py.Dataset, source: str) -> None:
        size = len(self.vocabulary)
        for start in range(0, ids.shape[0], CHECK_ROWS):
            block = np.asarray(ids[start : start + CHECK_ROWS], dtype=np.int64)
            bad = np.argwhere((block < 0) | (block >= size))
            if bad.size:
                row, column = (int(v) for v in bad[0])
                raise DataFormatError(
                    f"{source}: key 'input_ids' sample {start + row} position {column} is id "
                    f"{int(block[row, column])}, outside the vocabulary of {size} tokens"
                )
            values = np.asarray(mask[start : start + CHECK_ROWS])
            if not np.isin(values, (0, 1)).all():
                raise DataFormatError(f"{source}: key 'attention_mask' must hold only 0 and 1")

    def token_ids(self, index: int) -> np.ndarray:
        """``input_ids`` of sample ``index`` (T,) int64, padding included."""
        return np.asarray(self._handle()["input_ids"][self._check_index(index)], dtype=np.int64)

    def mask(self, index: int) -> np.ndarray:
        """``attention_mask`` of sample ``index`` (T,) bool."""
        return np.asarray(self._handle()["attention_mask"][self._check_index(index)]).astype(bool)

    def tokens(self, index: int) -> list[str]:
        """The texts of the unmasked tokens of sample ``index``, in order."""
        ids = self.token_ids(index)[self.mask(index)]
        return [self.vocabulary[i] for i in ids.tolist()]

    def sample(self, index: int) -> np.ndarray:
        """The (2, T) int64 stack of ids and mask that a token run batches."""
        return np.stack([self.token_ids(index), self.mask(index).astype(np.int64)])

    def attribution_shape(self, index: int) -> tuple[int, ...]:
        """A token's relevance is one value: (T,)."""
        return (self.length,)

    def image(self, index: int) -> np.ndarray:
        """Token data has no pixels; an image run on it fails here with a clear line."""
        raise DataFormatError(
            f"{self.path}: a token data set (key 'input_ids') has no images; attribute it with "
            "a token model (--model hf:<folder>)"
        )


def write_token_file(
    path: str | os.PathLike[str],
    input_ids: np.ndarray,
    attention_mask: np.ndarray,
    label: np.ndarray,
    tokens: list[str],
    attributes: dict[str, Any] | None = None,
    extra: dict[str, np.ndarray] | None = None,
) -> None:
    """Write a token data set (atomically) with its vocabulary as the ``tokens`` dataset, root
    ``attributes`` and ``extra`` per-sample datasets (e.g. a demo's ground truth)."""
    from relscope.core.data.atomic import atomic_path

    with atomic_path(path) as tmp, h5py.File(tmp, "w") as file:
        file.create_dataset("input_ids", data=np.asarray(input_ids, dtype=np.int64))
        file.create_dataset("attention_mask", data=np.asarray(attention_mask, dtype=np.uint8))
        file.create_dataset("label", data=np.asarray(label))
        file.create_dataset("tokens", data=np.asarray(tokens, dtype=h5py.string_dtype()))
        for key, value in (extra or {}).items():
            file.create_dataset(key, data=np.asarray(value))
        for key, value in (attributes or {}).items():
            file.attrs[key] = value
