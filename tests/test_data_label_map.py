"""Label-map JSON files: round trip, lookups, validation with errors naming file and key."""

from __future__ import annotations

import json

import pytest

from relscope.core.data.label_map import (
    LabelEntry,
    default_label_map,
    read_label_map,
    write_label_map,
)
from relscope.core.errors import DataFormatError, RelscopeError

ENTRIES = [
    {"index": 0, "word_net_id": "n01440764", "name": "tench"},
    {"index": 1, "word_net_id": "n01443537", "name": "goldfish"},
    {"index": 5, "word_net_id": "n01491361", "name": "tiger shark"},
]


def test_write_then_read_gives_the_same_entries_and_plain_json(tmp_path):
    path = tmp_path / "label-map.json"
    write_label_map(ENTRIES, path)
    assert json.loads(path.read_text()) == ENTRIES  # exactly the three keys, in order
    label_map = read_label_map(path)
    assert [e.as_dict() for e in label_map] == ENTRIES
    assert label_map.by_index(5).name == "tiger shark"
    assert label_map.by_word_net_id("n01443537").index == 1
    assert 5 in label_map and 2 not in label_map
    assert label_map.indices == [0, 1, 5]
    assert list(tmp_path.iterdir()) == [path]  # no temporary file left


def test_default_map_uses_zero_padded_ids():
    label_map = default_label_map(["zero", "one"])
    assert list(label_map) == [LabelEntry(0, "00000000", "zero"), LabelEntry(1, "00000001", "one")]
    assert default_label_map(3).name(2) == "2"


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ('[{"index": 0, "name": "a"}]', "entry 0 lacks the key 'word_net_id'"),
        ('[{"index": "0", "word_net_id": "x", "name": "a"}]', "key 'index' must be an integer"),
        ('{"index": 0}', "expected a JSON list"),
        ("[{", "not valid JSON"),
        (
            '[{"index": 0, "word_net_id": "a", "name": "a"},'
            ' {"index": 0, "word_net_id": "b", "name": "b"}]',
            "index 0 appears twice",
        ),
        (
            '[{"index": 0, "word_net_id": "a", "name": "a"},'
            ' {"index": 1, "word_net_id": "a", "name": "b"}]',
            "word_net_id 'a' appears twice",
        ),
    ],
)
def test_malformed_label_maps_are_one_error_naming_the_file(tmp_path, content, expected):
    path = tmp_path / "labels.json"
    path.write_text(content)
    with pytest.raises(DataFormatError) as info:
        read_label_map(path)
    message = str(info.value)
    assert message.startswith(str(path)) and expected in message and "\n" not in message


def test_missing_file_and_unknown_lookup_are_relscope_errors(tmp_path):
    with pytest.raises(RelscopeError, match="label map file not found"):
        read_label_map(tmp_path / "absent.json")
    label_map = default_label_map(2)
    with pytest.raises(DataFormatError, match="no entry with index 7"):
        label_map.by_index(7)


def test_refused_write_keeps_the_old_file(tmp_path):
    path = tmp_path / "label-map.json"
    write_label_map(ENTRIES, path)
    before = path.read_bytes()
    with pytest.raises(DataFormatError):
        write_label_map([{"index": 0, "word_net_id": "a"}], path)
    assert path.read_bytes() == before
    assert list(tmp_path.iterdir()) == [path]
