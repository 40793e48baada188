"""Reading evaluation files, and the relscope extension key ``project.evaluation`` that names one
in a project YAML (ViRelAy ignores it): the explorer's faithfulness panel reads it from there."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from relscope.core.data.atomic import write_text_atomic
from relscope.core.data.project import project_from_mapping
from relscope.core.data.sources import relative_path
from relscope.core.errors import DataFormatError

#: the project YAML key (under ``project:``) naming the evaluation file
PROJECT_KEY = "evaluation"


def read_evaluation(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The evaluation document at ``path``, checked for its format tag and ``methods``."""
    try:
        document = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataFormatError(f"{path}: evaluation file not found") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataFormatError(f"{path}: not a readable evaluation JSON ({exc})") from None
    if not isinstance(document, dict) or document.get("format") != "relscope-evaluation/1":
        raise DataFormatError(f"{path}: key 'format' must be 'relscope-evaluation/1'")
    if not isinstance(document.get("methods"), dict) or "indices" not in document:
        raise DataFormatError(f"{path}: missing key 'methods' or 'indices'")
    return document


def project_evaluation(project_yaml: str | os.PathLike[str]) -> Path | None:
    """The evaluation file a project YAML names (absolute), or None when it names none."""
    path = Path(project_yaml)
    document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    value = (document.get("project") or {}).get(PROJECT_KEY)
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise DataFormatError(f"{path}: key 'project.{PROJECT_KEY}' must be a file name")
    return (path.absolute().parent / value).resolve()


def link_evaluation(
    project_yaml: str | os.PathLike[str], evaluation: str | os.PathLike[str]
) -> None:
    """Name ``evaluation`` in the project YAML (relative to its folder), atomically."""
    path = Path(project_yaml)
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    base = path.absolute().parent
    project_from_mapping(document, base, str(path))  # a valid project before and after
    document["project"][PROJECT_KEY] = relative_path(Path(evaluation).absolute(), base)
    write_text_atomic(path, yaml.safe_dump(document, sort_keys=False, allow_unicode=True))


def curve_bands(document: dict[str, Any]) -> dict[str, Any]:
    """Per method, its mean MoRF/LeRF curves with their bands and its scalar scores (no per-sample
    values): what the panel draws for the whole data set."""
    methods = {}
    for name, method in document["methods"].items():
        metrics = method.get("metrics", {})
        curves = metrics.get("pixel_flipping", {})
        scores = {
            key: {k: value[k] for k in ("mean", "ci_low", "ci_high")}
            for metric in metrics.values()
            for key, value in metric.items()
            if isinstance(value, dict) and not isinstance(value.get("mean"), list)
        }
        methods[name] = {
            "source": method.get("source"),
            "curves": {
                order: {k: curves[order][k] for k in ("mean", "ci_low", "ci_high")}
                for order in ("morf", "lerf")
                if order in curves
            },
            "scores": scores,
        }
    return methods


def selection_curves(document: dict[str, Any], indices: np.ndarray) -> dict[str, Any]:
    """Mean MoRF/LeRF curves, per method, over the selected dataset ``indices`` that were
    evaluated; ``count`` says how many were."""
    evaluated = np.asarray(document["indices"], dtype=np.int64)
    rows = np.flatnonzero(np.isin(evaluated, indices))
    methods = {}
    for name, method in document["methods"].items():
        curves = method.get("metrics", {}).get("pixel_flipping", {})
        methods[name] = {
            order: np.asarray(curves[order]["per_sample"], dtype=np.float64)[rows].mean(0).tolist()
            for order in ("morf", "lerf")
            if order in curves and len(rows)
        }
    return {"count": int(len(rows)), "methods": methods}
