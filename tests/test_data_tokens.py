"""Token data sets: files written with h5py straight from docs/formats.md (``input_ids``,
``attention_mask``, ``label``, ``tokens`` or a tokenizer.json) read back id for id; bad files are
one line naming the file and key; ``dataset.type: tokens`` projects round-trip."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
import yaml

from relscope.core.data.inputs import open_inputs
from relscope.core.data.project import read_project
from relscope.core.data.sources import open_data_source
from relscope.core.data.tokens import TokenInputs
from relscope.core.errors import DataFormatError

VOCAB = ["[PAD]", "good", "bad", "film", "<br>"]
IDS = np.array([[1, 3, 4, 0], [2, 3, 0, 0], [1, 1, 3, 4]])
MASK = (IDS != 0).astype(np.uint8)


def _write(path, ids=IDS, mask=MASK, label=(1, 0, 1), tokens=VOCAB) -> None:
    with h5py.File(path, "w") as file:
        file["input_ids"] = ids
        if mask is not None:
            file["attention_mask"] = mask
        file["label"] = np.asarray(label)
        if tokens is not None:
            file["tokens"] = np.asarray(tokens, dtype=h5py.string_dtype())


def test_a_token_file_reads_ids_mask_labels_and_texts(tmp_path) -> None:
    _write(tmp_path / "t.h5")
    inputs = TokenInputs(tmp_path / "t.h5")
    assert len(inputs) == 3 and inputs.length == 4
    assert inputs.tokens(0) == ["good", "film", "<br>"]  # the masked pad is left out
    assert inputs.tokens(1) == ["bad", "film"]
    assert inputs.labels(2) == [1]
    np.testing.assert_array_equal(inputs.sample(1), [[2, 3, 0, 0], [1, 1, 0, 0]])
    assert inputs.sample(1).dtype == np.int64
    assert inputs.attribution_shape(0) == (4,)


def test_a_tokenizer_json_beside_the_file_is_the_vocabulary(tmp_path) -> None:
    tokenizers = pytest.importorskip("tokenizers")
    model = tokenizers.models.WordLevel({t: i for i, t in enumerate(VOCAB)}, unk_token="[PAD]")
    tokenizers.Tokenizer(model).save(str(tmp_path / "tokenizer.json"))
    _write(tmp_path / "t.h5", tokens=None)
    assert TokenInputs(tmp_path / "t.h5").tokens(2) == ["good", "good", "film", "<br>"]


def test_a_token_file_is_found_by_data_and_written_as_type_tokens(tmp_path) -> None:
    _write(tmp_path / "t.h5")
    source = open_data_source(str(tmp_path / "t.h5"))
    assert isinstance(source.inputs, TokenInputs)
    assert source.dataset.type == "tokens" and [e.index for e in source.label_map] == [0, 1]
    mapping = source.dataset.to_mapping(tmp_path)
    assert mapping == {"name": "t", "type": "tokens", "path": "t.h5"}
    project = tmp_path / "p.yaml"
    (tmp_path / "labels.json").write_text(
        '[{"index": 0, "word_net_id": "neg", "name": "negative"},'
        ' {"index": 1, "word_net_id": "pos", "name": "positive"}]'
    )
    project.write_text(
        yaml.safe_dump(
            {"project": {"name": "t", "model": "m", "label_map": "labels.json",
                         "dataset": mapping}}
        )
    )  # fmt: skip
    opened = read_project(project).open_inputs()
    assert isinstance(opened, TokenInputs) and opened.tokens(1) == ["bad", "film"]


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"ids": np.array([[1, 9, 0, 0]]), "mask": np.array([[1, 1, 0, 0]]), "label": [0]},
         "key 'input_ids' sample 0 position 1 is id 9, outside the vocabulary of 5 tokens"),
        ({"mask": MASK[:, :3]}, "key 'attention_mask' must have the shape of 'input_ids' (3, 4)"),
        ({"mask": None}, "missing key 'attention_mask'"),
        ({"tokens": None}, "no vocabulary: expected key 'tokens'"),
        ({"label": [0, 1]}, "key 'label' has 2 rows but key 'input_ids' has 3"),
    ],
)  # fmt: skip
def test_bad_token_files_are_one_line_naming_file_and_key(tmp_path, change, expected) -> None:
    _write(tmp_path / "bad.h5", **change)
    with pytest.raises(DataFormatError) as caught:
        open_inputs({"name": "b", "type": "tokens", "path": str(tmp_path / "bad.h5")})
    message = str(caught.value)
    assert "\n" not in message and message.startswith(str(tmp_path / "bad.h5"))
    assert expected in message


def test_a_tokens_project_is_refused_by_the_image_reader_and_images_are_refused(tmp_path) -> None:
    _write(tmp_path / "t.h5")
    with pytest.raises(DataFormatError, match="missing key 'data'"):
        open_inputs({"name": "t", "type": "hdf5", "path": str(tmp_path / "t.h5")})
    with pytest.raises(DataFormatError, match="has no images"):
        TokenInputs(tmp_path / "t.h5").image(0)
