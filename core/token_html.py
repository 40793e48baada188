"""Token relevance as a self-contained HTML page: the sample's text with every token's background
the colour map at its heatmap index, and its relevance in a hover title.

Indices follow the heatmap rule over the sample's (unmasked) tokens, as images and the explorer's
token view do: symmetric by default, ``floor(255 · (R / max|R| + 1) / 2 + 0.5)``, so zero relevance
is index 128, the middle of the colour map. The page needs no script, font or file beside it.
"""

from __future__ import annotations

import html
from collections.abc import Sequence

import numpy as np

from relscope.core.colormap import ColorMap
from relscope.core.errors import HeatmapError
from relscope.core.heatmap import heatmap_indices

#: luminance above which a token's text is drawn dark on its background, else light
DARK_TEXT_ABOVE = 0.55

_STYLE = (
    "body{font-family:sans-serif;margin:1.5em;max-width:60em}"
    "h1{font-size:1.1em;font-weight:normal}"
    ".token-text{line-height:2.1;font-size:1.1em}"
    ".token{padding:.15em .3em;border-radius:.25em;white-space:pre}"
    ".legend{display:flex;align-items:center;gap:.6em;margin-top:1.5em;font-size:.85em}"
    ".bar{width:16em;height:.9em;border:1px solid #999}"
)


def token_colors(relevance: np.ndarray, cmap: ColorMap, mode: str = "symmetric") -> list[str]:
    """``#rrggbb`` per token: the colour map at each token's heatmap index (``mode``)."""
    values = np.asarray(relevance, dtype=np.float64).reshape(1, -1)
    if values.size == 0:
        return []
    indices = heatmap_indices(values, mode)[0]
    return ["#{:02x}{:02x}{:02x}".format(*cmap.lut[i]) for i in indices.tolist()]


def text_color(background: str) -> str:
    """A readable text colour (``#111`` or ``#fff``) on ``background`` (``#rrggbb``)."""
    value = int(background[1:], 16)
    red, green, blue = (value >> 16) & 255, (value >> 8) & 255, value & 255
    luminance = (0.299 * red + 0.587 * green + 0.114 * blue) / 255
    return "#111" if luminance > DARK_TEXT_ABOVE else "#fff"


def render_token_html(
    tokens: Sequence[str],
    relevance: np.ndarray,
    cmap: ColorMap,
    *,
    mode: str = "symmetric",
    title: str = "",
) -> str:
    """The page for one sample: ``tokens`` (the unmasked ones, in order) coloured by
    ``relevance`` (one value each); each span carries ``data-relevance`` and a title."""
    values = np.asarray(relevance, dtype=np.float64).reshape(-1)
    if len(values) != len(tokens):
        raise HeatmapError(f"{len(tokens)} tokens but {len(values)} relevance values")
    spans = []
    for token, value, color in zip(tokens, values.tolist(), token_colors(values, cmap, mode)):
        text = html.escape(token)
        spans.append(
            f'<span class="token" style="background-color:{color};color:{text_color(color)}" '
            f'data-relevance="{value!r}" title="{text}: relevance {value:.3g}">{text}</span>'
        )
    peak = float(np.abs(values).max()) if values.size else 0.0
    heading = html.escape(title)
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{heading}</title>\n<style>{_STYLE}</style>\n</head>\n<body>\n"
        f"<h1>{heading}</h1>\n"
        f'<p class="token-text">{" ".join(spans)}</p>\n'
        f'<div class="legend"><span>relevance ({html.escape(mode)}, {html.escape(cmap.name)}; '
        f"max |R| {peak:.3g})</span>"
        f'<span class="bar" style="background:{cmap.css_gradient()}"></span></div>\n'
        "</body>\n</html>\n"
    )
