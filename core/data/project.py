"""Project files (YAML): name, model, label map, dataset, attributions and analyses of one project.

Paths inside the file are relative to the file's folder; ``read_project`` resolves them to absolute
paths and ``write_project`` writes them back relative to where the YAML goes.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs
import yaml

from relscope.core.data.atomic import write_text_atomic
from relscope.core.data.label_map import LabelMap, read_label_map, write_label_map
from relscope.core.data.sources import DatasetSpec, relative_path
from relscope.core.errors import DataFormatError

ATTRIBUTION_STRATEGIES = ("true_label", "predicted_label")
LABEL_MAP_NAME = "label-map.json"


@attrs.define
class AttributionsSpec:
    """Where a project's attributions are: one or more files, and how they were computed."""

    attribution_method: str
    attribution_strategy: str
    sources: list[Path]


@attrs.define
class AnalysisSpec:
    """One analysis method and the files holding it (equal method names are merged on read)."""

    analysis_method: str
    sources: list[Path]


@attrs.define
class Project:
    """A project: the data set, label map, attributions and analyses the explorer shows together."""

    name: str
    model: str
    label_map: Path
    dataset: DatasetSpec
    attributions: AttributionsSpec | None = None
    analyses: list[AnalysisSpec] = attrs.field(factory=list)
    path: Path | None = None

    def read_label_map(self) -> LabelMap:
        """The project's label map."""
        return read_label_map(self.label_map)

    def open_inputs(self, label_map: LabelMap | None = None) -> Any:
        """The project's data set as an InputSource (labels checked against the label map)."""
        from relscope.core.data.inputs import open_inputs

        return open_inputs(
            self.dataset, label_map if label_map is not None else self.read_label_map()
        )

    def open_attributions(self, label_map: LabelMap | None = None, inputs: Any = None) -> Any:
        """The project's attributions as an AttributionSet, validated against the data set."""
        from relscope.core.data.attributions import AttributionSet

        if self.attributions is None:
            raise DataFormatError(f"{self.path or self.name}: the project has no attributions")
        label_map = label_map if label_map is not None else self.read_label_map()
        return AttributionSet(self.attributions.sources, label_map=label_map, inputs=inputs)


def _string(data: Mapping[str, Any], key: str, where: str, source: str) -> str:
    if key not in data:
        raise DataFormatError(f"{source}: missing key '{where}{key}'")
    value = data[key]
    if not isinstance(value, str) or not value:
        raise DataFormatError(f"{source}: key '{where}{key}' must be a non-empty string")
    return value


def _sources(data: Mapping[str, Any], where: str, base: Path, source: str) -> list[Path]:
    if "sources" not in data:
        raise DataFormatError(f"{source}: missing key '{where}sources'")
    items = data["sources"]
    if isinstance(items, str):
        items = [items]
    if not isinstance(items, list) or not items or not all(isinstance(i, str) for i in items):
        raise DataFormatError(f"{source}: key '{where}sources' must be a list of file paths")
    return [base / item for item in items]


def project_from_mapping(document: Any, base: Path, source: str) -> Project:
    """Validate a parsed project YAML document; paths are resolved against ``base``."""
    if not isinstance(document, Mapping) or not isinstance(document.get("project"), Mapping):
        raise DataFormatError(f"{source}: missing key 'project' (a mapping)")
    data = document["project"]
    name = _string(data, "name", "project.", source)
    model = _string(data, "model", "project.", source)
    label_map = base / _string(data, "label_map", "project.", source)
    if "dataset" not in data:
        raise DataFormatError(f"{source}: missing key 'project.dataset'")
    dataset = DatasetSpec.from_mapping(data["dataset"], base, source)
    attributions = None
    if data.get("attributions") is not None:
        section = data["attributions"]
        if not isinstance(section, Mapping):
            raise DataFormatError(f"{source}: key 'project.attributions' must be a mapping")
        where = "project.attributions."
        strategy = _string(section, "attribution_strategy", where, source)
        if strategy not in ATTRIBUTION_STRATEGIES:
            raise DataFormatError(
                f"{source}: key '{where}attribution_strategy' must be one of "
                f"{', '.join(ATTRIBUTION_STRATEGIES)}, got {strategy!r}"
            )
        attributions = AttributionsSpec(
            _string(section, "attribution_method", where, source),
            strategy,
            _sources(section, where, base, source),
        )
    merged: dict[str, AnalysisSpec] = {}
    analyses = data.get("analyses") or []
    if not isinstance(analyses, list):
        raise DataFormatError(f"{source}: key 'project.analyses' must be a list")
    for position, item in enumerate(analyses):
        where = f"project.analyses[{position}]."
        if not isinstance(item, Mapping):
            raise DataFormatError(f"{source}: key '{where[:-1]}' must be a mapping")
        method = _string(item, "analysis_method", where, source)
        if "-" in method:
            raise DataFormatError(f"{source}: key '{where}analysis_method' must not contain '-'")
        spec = merged.setdefault(method, AnalysisSpec(method, []))
        spec.sources.extend(_sources(item, where, base, source))
    return Project(name, model, label_map, dataset, attributions, list(merged.values()))


def read_project(path: str | os.PathLike[str]) -> Project:
    """Read and validate a project YAML file; the Project's paths are absolute."""
    source = str(path)
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DataFormatError(f"{source}: project file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DataFormatError(f"{source}: cannot read project file ({exc})") from None
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        reason = str(exc).replace("\n", " ")
        raise DataFormatError(f"{source}: not valid YAML ({reason})") from None
    project = project_from_mapping(document, file.absolute().parent, source)
    project.path = file.absolute()
    return project


def project_to_mapping(project: Project, base: Path) -> dict[str, Any]:
    """The YAML document of ``project`` with every path relative to ``base``."""
    data: dict[str, Any] = {
        "name": project.name,
        "model": project.model,
        "label_map": relative_path(project.label_map, base),
        "dataset": project.dataset.to_mapping(base),
    }
    if project.attributions is not None:
        data["attributions"] = {
            "attribution_method": project.attributions.attribution_method,
            "attribution_strategy": project.attributions.attribution_strategy,
            "sources": [relative_path(p, base) for p in project.attributions.sources],
        }
    if project.analyses:
        data["analyses"] = [
            {
                "analysis_method": spec.analysis_method,
                "sources": [relative_path(p, base) for p in spec.sources],
            }
            for spec in project.analyses
        ]
    return {"project": data}


def write_project(project: Project, path: str | os.PathLike[str]) -> None:
    """Write ``project`` as YAML to ``path`` atomically, paths relative to the YAML's folder."""
    file = Path(path)
    base = file.absolute().parent
    document = project_to_mapping(project, base)
    project_from_mapping(document, base, str(path))  # never write what the reader would refuse
    write_text_atomic(file, yaml.safe_dump(document, sort_keys=False, allow_unicode=True))


def write_project_files(
    path: str | os.PathLike[str],
    name: str,
    model: str,
    dataset: DatasetSpec,
    label_map: LabelMap,
    label_map_path: str | os.PathLike[str] | None = None,
    attributions: AttributionsSpec | None = None,
    analyses: list[AnalysisSpec] | None = None,
) -> Path:
    """Write a project YAML at ``path`` and, unless ``label_map_path`` names an existing file, the
    label map as ``label-map.json`` next to it; returns the YAML path."""
    file = Path(path)
    base = file.absolute().parent
    own_label_map = label_map_path is None
    label_map_file = base / LABEL_MAP_NAME if own_label_map else Path(label_map_path).absolute()
    project = Project(name, model, label_map_file, dataset, attributions, list(analyses or []))
    project_from_mapping(project_to_mapping(project, base), base, str(path))  # check first
    if own_label_map:
        write_label_map(label_map, label_map_file)
    write_project(project, file)
    return file


def add_analysis_to_project(path: Path, method: str, out: Path) -> None:
    """Add analysis file ``out`` under ``method`` to the project at ``path`` (rewritten atomically);
    an equal method gets the file as one more source."""
    if "-" in method:
        raise DataFormatError(f"--method {method!r}: analysis method names may not contain '-'")
    project = read_project(path)
    out = out.absolute()
    for spec in project.analyses:
        if spec.analysis_method == method:
            if out not in [Path(p).absolute() for p in spec.sources]:
                spec.sources.append(out)
            break
    else:
        project.analyses.append(AnalysisSpec(analysis_method=method, sources=[out]))
    write_project(project, path)
