"""Project YAML files: relative paths, validation of every section, ViRelAy-style documents."""

from __future__ import annotations

import shutil
import textwrap

import pytest
import yaml

from relscope.core.data.project import (
    AnalysisSpec,
    AttributionsSpec,
    Project,
    read_project,
    write_project,
)
from relscope.core.data.sources import DatasetSpec
from relscope.core.errors import DataFormatError

VIRELAY_STYLE = """\
project:
  name: Digits (Clever Hans)
  model: SmallCNN
  label_map: label-map.json
  dataset:
    name: digits
    type: hdf5
    path: data/input.h5
  attributions:
    attribution_method: epsilon_plus_flat
    attribution_strategy: true_label
    sources: [attribution-0.h5, attribution-1.h5]
  analyses:
    - analysis_method: spectral
      sources: [analysis-a.h5]
    - analysis_method: spectral
      sources: [analysis-b.h5]
    - analysis_method: tsne
      sources: [analysis-c.h5]
"""


def test_reads_a_virelay_style_project_with_paths_relative_to_the_yaml(tmp_path):
    path = tmp_path / "sub" / "project.yaml"
    path.parent.mkdir()
    path.write_text(VIRELAY_STYLE)
    project = read_project(path)
    base = path.parent.absolute()
    assert project.name == "Digits (Clever Hans)" and project.model == "SmallCNN"
    assert project.label_map == base / "label-map.json"
    assert project.dataset == DatasetSpec("digits", "hdf5", base / "data" / "input.h5")
    assert project.attributions == AttributionsSpec(
        "epsilon_plus_flat", "true_label", [base / "attribution-0.h5", base / "attribution-1.h5"]
    )
    # equal analysis names are merged, in first-seen order
    assert project.analyses == [
        AnalysisSpec("spectral", [base / "analysis-a.h5", base / "analysis-b.h5"]),
        AnalysisSpec("tsne", [base / "analysis-c.h5"]),
    ]
    assert project.path == path.absolute()


def test_written_project_uses_relative_paths_and_survives_a_move(tmp_path):
    folder = tmp_path / "proj"
    (folder / "data").mkdir(parents=True)
    project = Project(
        name="p",
        model="m",
        label_map=folder / "label-map.json",
        dataset=DatasetSpec(
            "imgs",
            "image_directory",
            folder / "data" / "images",
            32,
            24,
            "fill_zeros",
            "center_crop",
            r"^.*/(\d+)/[^/]+$",
            None,
        ),  # fmt: skip
        attributions=AttributionsSpec("epsilon", "predicted_label", [folder / "out" / "a.h5"]),
        analyses=[AnalysisSpec("spectral", [folder / "an.h5"])],
    )
    write_project(project, folder / "project.yaml")
    document = yaml.safe_load((folder / "project.yaml").read_text())["project"]
    assert document["label_map"] == "label-map.json"
    assert document["dataset"]["path"] == "data/images"
    assert document["dataset"]["input_width"] == 32
    assert document["dataset"]["label_word_net_id_regex"] is None  # all six keys present
    assert document["attributions"]["sources"] == ["out/a.h5"]
    assert document["analyses"] == [{"analysis_method": "spectral", "sources": ["an.h5"]}]
    moved = tmp_path / "elsewhere"
    shutil.copytree(folder, moved)
    again = read_project(moved / "project.yaml")
    assert again.dataset.path == moved.absolute() / "data" / "images"
    assert again.attributions is not None
    assert again.attributions.sources == [moved.absolute() / "out" / "a.h5"]
    assert (again.dataset.input_width, again.dataset.input_height) == (32, 24)


def test_paths_outside_the_folder_are_written_with_dotdot(tmp_path):
    project = Project("p", "m", tmp_path / "shared" / "lm.json",
                      DatasetSpec("d", "hdf5", tmp_path / "shared" / "in.h5"))  # fmt: skip
    write_project(project, tmp_path / "projects" / "p.yaml")
    document = yaml.safe_load((tmp_path / "projects" / "p.yaml").read_text())["project"]
    assert document["label_map"] == "../shared/lm.json"
    assert read_project(tmp_path / "projects" / "p.yaml").label_map == (
        tmp_path / "projects" / ".." / "shared" / "lm.json"
    )


IMAGE_DIRECTORY = """\
project:
  name: p
  model: m
  label_map: lm.json
  dataset:
    name: d
    type: image_directory
    path: images
    input_width: 8
    input_height: 8
    up_sampling_method: fill_zeros
    down_sampling_method: center_crop
    label_index_regex: '^.*/(\\d+)/.*$'
    label_word_net_id_regex: null
"""


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (lambda t: t.replace("  name: p\n", ""), "missing key 'project.name'"),
        (lambda t: t.replace("    input_height: 8\n", ""), "missing key 'dataset.input_height'"),
        (lambda t: t.replace("type: image_directory", "type: zip"), "key 'dataset.type'"),
        (
            lambda t: t.replace("fill_zeros", "stretch"),
            "key 'dataset.up_sampling_method' must be one of",
        ),
        (
            lambda t: t.replace("label_word_net_id_regex: null", "label_word_net_id_regex: '(x)'"),
            "exactly one of 'dataset.label_index_regex'",
        ),
        (
            lambda t: t.replace("label_index_regex: '^.*/(\\d+)/.*$'", "label_index_regex: 'ab'"),
            "needs a group",
        ),
        (lambda t: t.replace("input_width: 8", "input_width: -3"), "'dataset.input_width'"),
        (lambda t: t + "  analyses:\n    - analysis_method: a-b\n      sources: [x.h5]\n", "'-'"),
        (
            lambda t: (
                t + "  attributions:\n    attribution_method: e\n"
                "    attribution_strategy: best\n    sources: [a.h5]\n"
            ),
            "attribution_strategy' must be one of",
        ),
        (
            lambda t: (
                t + "  attributions:\n    attribution_method: e\n"
                "    attribution_strategy: true_label\n"
            ),
            "missing key 'project.attributions.sources'",
        ),
        (lambda t: "project: [1, 2\n", "not valid YAML"),
        (lambda t: "- 1\n", "missing key 'project'"),
    ],
)
def test_invalid_projects_are_one_line_errors_naming_file_and_key(tmp_path, edit, expected):
    path = tmp_path / "project.yaml"
    path.write_text(edit(IMAGE_DIRECTORY))
    with pytest.raises(DataFormatError) as info:
        read_project(path)
    message = str(info.value)
    assert message.startswith(str(path)) and expected in message and "\n" not in message


def test_valid_image_directory_project_and_missing_file(tmp_path):
    path = tmp_path / "project.yaml"
    path.write_text(IMAGE_DIRECTORY)
    dataset = read_project(path).dataset
    assert dataset.label_index_regex == r"^.*/(\d+)/.*$"
    assert (dataset.up_sampling_method, dataset.down_sampling_method) == (
        "fill_zeros",
        "center_crop",
    )
    with pytest.raises(DataFormatError, match="project file not found"):
        read_project(tmp_path / "nope.yaml")


def test_write_refuses_what_read_would_refuse_and_leaves_nothing(tmp_path):
    bad = Project("p", "m", tmp_path / "lm.json", DatasetSpec("d", "tiff", tmp_path / "x"))
    with pytest.raises(DataFormatError, match="dataset.type"):
        write_project(bad, tmp_path / "p.yaml")
    assert list(tmp_path.iterdir()) == []


def test_yaml_text_is_plain(tmp_path):
    project = Project("p", "m", tmp_path / "lm.json", DatasetSpec("d", "hdf5", tmp_path / "in.h5"))
    write_project(project, tmp_path / "p.yaml")
    assert (tmp_path / "p.yaml").read_text() == textwrap.dedent(
        """\
        project:
          name: p
          model: m
          label_map: lm.json
          dataset:
            name: d
            type: hdf5
            path: in.h5
        """
    )
