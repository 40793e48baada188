"""Label maps (JSON list of ``{index, word_net_id, name}``): class index <-> category id <-> name."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs

from relscope.core.data.atomic import write_text_atomic
from relscope.core.errors import DataFormatError


@attrs.frozen
class LabelEntry:
    """One class: the model's output index, its category id (WordNet id or ``%08d``), a name."""

    index: int
    word_net_id: str
    name: str

    def as_dict(self) -> dict[str, Any]:
        """The JSON form of the entry."""
        return {"index": self.index, "word_net_id": self.word_net_id, "name": self.name}


class LabelMap(Sequence[LabelEntry]):
    """The classes of a data set, looked up by index or by word_net_id; indices and ids are unique."""

    def __init__(self, entries: Iterable[LabelEntry], source: str = "label map") -> None:
        self.entries: tuple[LabelEntry, ...] = tuple(entries)
        self.source = source
        self._by_index: dict[int, LabelEntry] = {}
        self._by_id: dict[str, LabelEntry] = {}
        for entry in self.entries:
            if entry.index in self._by_index:
                raise DataFormatError(f"{source}: index {entry.index} appears twice")
            if entry.word_net_id in self._by_id:
                raise DataFormatError(f"{source}: word_net_id {entry.word_net_id!r} appears twice")
            self._by_index[entry.index] = entry
            self._by_id[entry.word_net_id] = entry

    def __len__(self) -> int:
        return len(self.entries)

    def __getitem__(self, position: int) -> LabelEntry:  # type: ignore[override]
        return self.entries[position]

    def __iter__(self) -> Iterator[LabelEntry]:
        return iter(self.entries)

    def __contains__(self, index: object) -> bool:
        return index in self._by_index

    def __eq__(self, other: object) -> bool:
        return isinstance(other, LabelMap) and self.entries == other.entries

    def __repr__(self) -> str:
        return f"LabelMap({len(self)} entries from {self.source})"

    @property
    def indices(self) -> list[int]:
        """All class indices, in file order."""
        return [entry.index for entry in self.entries]

    def by_index(self, index: int) -> LabelEntry:
        """The entry of class ``index``; a DataFormatError names the label map when it is absent."""
        try:
            return self._by_index[int(index)]
        except KeyError:
            raise DataFormatError(f"{self.source}: no entry with index {index}") from None

    def by_word_net_id(self, word_net_id: str) -> LabelEntry:
        """The entry whose word_net_id is ``word_net_id``."""
        try:
            return self._by_id[word_net_id]
        except KeyError:
            raise DataFormatError(
                f"{self.source}: no entry with word_net_id {word_net_id!r}"
            ) from None

    def name(self, index: int) -> str:
        """The human-readable name of class ``index``."""
        return self.by_index(index).name

    def as_list(self) -> list[dict[str, Any]]:
        """The JSON form of the whole map."""
        return [entry.as_dict() for entry in self.entries]


def default_label_map(names: Sequence[str] | int, source: str = "label map") -> LabelMap:
    """A map for classes without WordNet ids: ``word_net_id = f"{index:08d}"``; names or a count."""
    if isinstance(names, int):
        names = [str(index) for index in range(names)]
    return LabelMap(
        (LabelEntry(index, f"{index:08d}", str(name)) for index, name in enumerate(names)), source
    )


def _entry(item: Any, position: int, source: str) -> LabelEntry:
    if not isinstance(item, Mapping):
        raise DataFormatError(f"{source}: entry {position} must be an object, got {item!r}")
    for key in ("index", "word_net_id", "name"):
        if key not in item:
            raise DataFormatError(f"{source}: entry {position} lacks the key {key!r}")
    index = item["index"]
    if isinstance(index, bool) or not isinstance(index, int) or index < 0:
        raise DataFormatError(f"{source}: entry {position} key 'index' must be an integer >= 0")
    for key in ("word_net_id", "name"):
        if not isinstance(item[key], str):
            raise DataFormatError(f"{source}: entry {position} key {key!r} must be a string")
    return LabelEntry(index, item["word_net_id"], item["name"])


def label_map_from_list(items: Any, source: str = "label map") -> LabelMap:
    """Validate the JSON form (a list of objects with index, word_net_id, name) into a LabelMap."""
    if not isinstance(items, list):
        raise DataFormatError(f"{source}: expected a JSON list of label entries")
    return LabelMap((_entry(item, i, source) for i, item in enumerate(items)), source)


def read_label_map(path: str | os.PathLike[str]) -> LabelMap:
    """Read and validate a label-map JSON file."""
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DataFormatError(f"{source}: label map file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DataFormatError(f"{source}: cannot read label map ({exc})") from None
    try:
        items = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DataFormatError(f"{source}: not valid JSON ({exc})") from None
    return label_map_from_list(items, source)


def write_label_map(
    entries: LabelMap | Iterable[LabelEntry | Mapping[str, Any]], path: str | os.PathLike[str]
) -> None:
    """Write a label map as JSON, atomically; entries may be LabelEntry objects or dicts."""
    items = [e.as_dict() if isinstance(e, LabelEntry) else dict(e) for e in entries]
    label_map = label_map_from_list(items, str(path))  # validates before anything is written
    write_text_atomic(path, json.dumps(label_map.as_list(), indent=2) + "\n")
