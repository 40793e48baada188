"""Colour maps: a short text language turned into a 256-entry lookup table (LUT).

A spec is comma-separated hex colours (``RGB`` or ``RRGGBB``), each optionally prefixed by a
position ``II:`` in ``00``…``ff``; e.g. ``00f,80:fff,f00``. Colours without a position are spaced
evenly between their positioned neighbours (the first defaults to ``00``, the last to ``ff``). The
LUT interpolates linearly between neighbouring colours; two colours at one position make a hard step.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import numpy as np

from relscope.core.errors import ColorMapError, UnknownNameError

LUT_SIZE = 256
_HEX_COLOR = re.compile(r"^(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})$")
_HEX_POSITION = re.compile(r"^[0-9a-fA-F]{2}$")


class ColorMap:
    """A named 256-entry RGB lookup table; ``lut[i]`` is the colour of heatmap index ``i``."""

    def __init__(self, lut: Any, spec: str | None = None, name: str | None = None) -> None:
        table = np.asarray(lut)
        if table.shape != (LUT_SIZE, 3):
            raise ColorMapError(
                f"colour map {name or spec or ''!r}: LUT has shape {table.shape}, expected (256, 3)"
            )
        if np.issubdtype(table.dtype, np.floating):
            if not np.all(np.isfinite(table)) or table.min() < 0.0 or table.max() > 1.0:
                raise ColorMapError(
                    f"colour map {name or spec or ''!r}: float LUT values must lie in [0, 1]"
                )
            table = np.floor(table * 255.0 + 0.5)
        elif table.min() < 0 or table.max() > 255:
            raise ColorMapError(
                f"colour map {name or spec or ''!r}: integer LUT values must lie in 0..255"
            )
        self.lut: np.ndarray = np.array(table, dtype=np.uint8)
        self.lut.setflags(write=False)
        self.spec = spec
        self.name = name or spec or "custom"

    @property
    def description(self) -> str:
        """One line for registry listings: the spec when there is one."""
        return f"spec {self.spec}" if self.spec else "lookup table"

    def palette(self) -> list[int]:
        """The LUT flattened to ``[r0, g0, b0, r1, ...]`` (768 ints), as PNG/PIL palettes want it."""
        return self.lut.reshape(-1).tolist()

    def __call__(self, indices: Any) -> np.ndarray:
        """Colour an index array: uint8 ``(..., 3)``."""
        return self.lut[np.asarray(indices, dtype=np.uint8)]

    def css_gradient(self, stops: int = 17) -> str:
        """A CSS ``linear-gradient`` (low left, high right) sampled at ``stops`` evenly spaced entries."""
        positions = np.linspace(0, LUT_SIZE - 1, max(2, stops)).round().astype(int)
        parts = [
            f"#{r:02x}{g:02x}{b:02x} {100.0 * p / (LUT_SIZE - 1):.1f}%"
            for p, (r, g, b) in zip(positions, self.lut[positions].tolist())
        ]
        return f"linear-gradient(to right, {', '.join(parts)})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ColorMap) and np.array_equal(self.lut, other.lut)

    def __hash__(self) -> int:
        return hash(self.lut.tobytes())

    def __repr__(self) -> str:
        return f"ColorMap(name={self.name!r}, spec={self.spec!r})"


def _parse_color(token: str, where: str) -> tuple[int, int, int]:
    if not _HEX_COLOR.match(token):
        raise ColorMapError(f"{where}: bad colour {token!r}, expected hex RGB or RRGGBB")
    if len(token) == 3:
        token = "".join(ch * 2 for ch in token)
    return int(token[0:2], 16), int(token[2:4], 16), int(token[4:6], 16)


def parse_nodes(spec: str, name: str | None = None) -> list[tuple[float, tuple[int, int, int]]]:
    """The ``(position, (r, g, b))`` nodes of ``spec`` with implicit positions filled in."""
    label = f"colour map {name!r}" if name else f"colour map {spec!r}"
    if not isinstance(spec, str) or not spec.strip():
        raise ColorMapError(f"{label}: empty spec, expected hex colours like '00f,80:fff,f00'")
    items = [item.strip() for item in spec.split(",")]
    positions: list[float | None] = []
    colors: list[tuple[int, int, int]] = []
    for number, item in enumerate(items, start=1):
        where = f"{label}, item {number}"
        if not item:
            raise ColorMapError(f"{where}: empty item, expected a hex colour")
        position: float | None = None
        if ":" in item:
            prefix, _, item = item.partition(":")
            prefix, item = prefix.strip(), item.strip()
            if not _HEX_POSITION.match(prefix):
                raise ColorMapError(f"{where}: bad position {prefix!r}, expected two hex digits")
            position = float(int(prefix, 16))
        colors.append(_parse_color(item, where))
        positions.append(position)
    if len(colors) < 2:
        raise ColorMapError(f"{label}: only one colour, a colour map needs at least two")
    last_explicit = -1.0
    for number, position in enumerate(positions, start=1):
        if position is not None:
            if position < last_explicit:
                raise ColorMapError(
                    f"{label}, item {number}: position {int(position):02x} comes after "
                    f"{int(last_explicit):02x}; positions must not descend"
                )
            last_explicit = position
    if positions[0] is None:
        positions[0] = 0.0
    if positions[-1] is None:
        positions[-1] = max(float(LUT_SIZE - 1), last_explicit)
    anchors = [i for i, p in enumerate(positions) if p is not None]
    for left, right in zip(anchors, anchors[1:]):
        start, stop = positions[left], positions[right]
        assert start is not None and stop is not None
        for j in range(left + 1, right):
            positions[j] = start + (stop - start) * (j - left) / (right - left)
    return [(float(p), c) for p, c in zip(positions, colors)]  # type: ignore[arg-type]


def nodes_to_lut(nodes: Sequence[tuple[float, tuple[int, int, int]]]) -> np.ndarray:
    """Piecewise-linear interpolation of sorted nodes into a uint8 ``(256, 3)`` LUT.

    Entry ``i`` uses the last node at or before ``i`` and the next one after it; outside the
    nodes the end colours extend, rounding is half up.
    """
    where = np.array([p for p, _ in nodes], dtype=np.float64)
    rgb = np.array([c for _, c in nodes], dtype=np.float64)
    index = np.arange(LUT_SIZE, dtype=np.float64)
    left = np.searchsorted(where, index, side="right") - 1
    left = np.clip(left, 0, len(where) - 1)
    right = np.minimum(left + 1, len(where) - 1)
    span = where[right] - where[left]
    t = np.where(span > 0, (index - where[left]) / np.where(span > 0, span, 1.0), 0.0)
    t = np.clip(t, 0.0, 1.0)[:, None]
    before = index < where[0]
    values = rgb[left] + (rgb[right] - rgb[left]) * t
    values[before] = rgb[0]
    return np.floor(values + 0.5).astype(np.uint8)


def parse_colormap(spec: str, name: str | None = None) -> ColorMap:
    """Parse a colour-map spec (``"00f,80:fff,f00"``) into a :class:`ColorMap`."""
    return ColorMap(nodes_to_lut(parse_nodes(spec, name)), spec=spec.strip(), name=name)


def as_colormap(obj: Any, name: str | None = None) -> ColorMap:
    """Turn a registered object (ColorMap, spec string, or (256, 3) LUT) into a :class:`ColorMap`."""
    if isinstance(obj, ColorMap):
        if name is None or obj.name == name:
            return obj
        return ColorMap(obj.lut, spec=obj.spec, name=name)
    if isinstance(obj, str):
        return parse_colormap(obj, name=name)
    return ColorMap(obj, name=name)


def get_colormap(name_or_spec: Any, pm: Any = None) -> ColorMap:
    """A registered colour map by name, else ``name_or_spec`` parsed as a spec.

    A ColorMap passes through. A string without a comma that names no registered map raises
    :class:`UnknownNameError` listing the known names; a malformed spec raises ColorMapError.
    """
    if isinstance(name_or_spec, ColorMap):
        return name_or_spec
    if not isinstance(name_or_spec, str):
        return as_colormap(name_or_spec)
    from relscope.core.registry import get_registry

    registry = get_registry("colormaps", pm)
    key = name_or_spec.strip()
    if key in registry:
        return as_colormap(registry.lookup(key), name=key)
    if "," not in key:
        known = ", ".join(registry) or "none registered"
        raise UnknownNameError(
            f"unknown colour map {key!r}; known: {known} (or give a spec like '00f,80:fff,f00')"
        )
    return parse_colormap(key)
