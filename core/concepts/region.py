"""The region a concept occupies in a conditional heatmap: the bounding box of its support."""

from __future__ import annotations

import numpy as np


def support_box(heatmap: np.ndarray, fraction: float = 0.1, margin: int = 1) -> tuple[int, ...]:
    """Half-open box ``(y0, y1, x0, x1)`` around the pixels with ``|h| >= fraction * max|h|``.

    ``heatmap`` is (H, W) (channels already summed); ``margin`` pixels are added on each side
    (clipped to the image). An all-zero heatmap gives the whole image.
    """
    height, width = heatmap.shape
    magnitude = np.abs(heatmap)
    peak = float(magnitude.max()) if magnitude.size else 0.0
    if not peak > 0:
        return (0, height, 0, width)
    rows, cols = np.nonzero(magnitude >= fraction * peak)
    return (
        max(int(rows.min()) - margin, 0),
        min(int(rows.max()) + 1 + margin, height),
        max(int(cols.min()) - margin, 0),
        min(int(cols.max()) + 1 + margin, width),
    )
