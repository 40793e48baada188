"""Request parameters of the explorer API, validated into Python values or a 4xx ``ApiError``.

Every route reads its parameters through these functions, so a missing, non-integer, out-of-range
or unknown value always becomes a JSON ``{"error": ...}`` with status 400/404, never a 500.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

import numpy as np

_INTEGER = re.compile(r"^[0-9]{1,12}$")
_RANGE = re.compile(r"^([0-9]{1,12})-([0-9]{1,12})$")
#: longest accepted string parameter (names and colour-map specs are far shorter)
MAX_TEXT = 512


class ApiError(Exception):
    """A request the API refuses: ``status`` (4xx) and a one-line message for ``{"error": ...}``."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def text_param(params: Mapping[str, str], name: str, default: str | None = None) -> str:
    """A required (or defaulted) string parameter."""
    value = params.get(name)
    if value is None or value == "":
        if default is not None:
            return default
        raise ApiError(400, f"missing query parameter {name!r}")
    if len(value) > MAX_TEXT:
        raise ApiError(400, f"query parameter {name!r} is longer than {MAX_TEXT} characters")
    return value


def parse_int(value: str, name: str, minimum: int = 0, maximum: int | None = None) -> int:
    """``value`` as a non-negative decimal integer within ``minimum..maximum``."""
    if not _INTEGER.match(value or ""):
        raise ApiError(400, f"{name} must be a non-negative integer, got {value!r}")
    number = int(value)
    if number < minimum or (maximum is not None and number > maximum):
        upper = "" if maximum is None else f"..{maximum}"
        raise ApiError(400, f"{name} {number} is out of range ({minimum}{upper})")
    return number


def int_param(
    params: Mapping[str, str],
    name: str,
    default: int | None = None,
    maximum: int | None = None,
) -> int:
    """An integer query parameter; missing is an error unless ``default`` is given."""
    value = params.get(name)
    if value is None or value == "":
        if default is None:
            raise ApiError(400, f"missing query parameter {name!r}")
        return default
    return parse_int(value, name, 0, maximum)


def cluster_id_param(params: Mapping[str, str], name: str = "cluster") -> int:
    """A cluster id: an integer, ``-1`` (noise) allowed."""
    value = params.get(name)
    if value is None or value == "":
        raise ApiError(400, f"missing query parameter {name!r}")
    if value == "-1":
        return -1
    return parse_int(value, name)


def choice_param(
    params: Mapping[str, str], name: str, choices: Iterable[str], default: str | None = None
) -> str:
    """A parameter that must be one of ``choices``."""
    options = list(choices)
    value = text_param(params, name, default)
    if value not in options:
        raise ApiError(400, f"{name} must be one of {', '.join(options)}, got {value!r}")
    return value


def known_name(value: str, what: str, known: Iterable[str], status: int = 400) -> str:
    """``value`` when it is among ``known``; else an error that lists the known names."""
    names = list(known)
    if value not in names:
        listed = ", ".join(names[:20]) + (", ..." if len(names) > 20 else "")
        raise ApiError(status, f"unknown {what} {value!r}; known: {listed or 'none'}")
    return value


def index_list_param(
    params: Mapping[str, str], name: str, size: int, limit: int = 1000
) -> np.ndarray:
    """Comma-separated indices and ranges (``3,10-12``), each below ``size``, at most ``limit``."""
    value = params.get(name)
    if value is None:
        raise ApiError(400, f"missing query parameter {name!r}")
    parts = [part.strip() for part in value.split(",")]
    if not value.strip() or not all(parts):
        raise ApiError(400, f"{name} must list sample indices like '3,10-12', got {value!r}")
    indices: list[int] = []
    for part in parts:
        match = _RANGE.match(part)
        if match:
            start, stop = int(match.group(1)), int(match.group(2))
            if stop < start:
                raise ApiError(400, f"{name}: range {part!r} runs backwards")
            if len(indices) + stop - start + 1 > limit:
                raise ApiError(400, f"{name} lists more than {limit} samples")
            indices.extend(range(start, stop + 1))
        else:
            indices.append(parse_int(part, name))
        if len(indices) > limit:
            raise ApiError(400, f"{name} lists more than {limit} samples")
    array = np.asarray(indices, dtype=np.int64)
    outside = array[array >= size]
    if outside.size:
        raise ApiError(
            404, f"sample {int(outside[0])} is out of range: the data set has {size} samples"
        )
    return array


def sample_index(value: str, size: int) -> int:
    """A sample index from the URL path: an integer below ``size`` (404 when out of range)."""
    index = parse_int(value, "sample index")
    if index >= size:
        raise ApiError(404, f"sample {index} is out of range: the data set has {size} samples")
    return index
