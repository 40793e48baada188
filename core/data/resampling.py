"""Bring an image to the model's input size: up-sample (pad or resize), then down-sample (crop/resize).

The method names are the project file's ``up_sampling_method`` / ``down_sampling_method`` values.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

UP_SAMPLING_METHODS = (
    "none",
    "fill_zeros",
    "fill_ones",
    "edge_repeat",
    "mirror_edge",
    "wrap_around",
    "resize",
)
DOWN_SAMPLING_METHODS = ("none", "center_crop", "resize")

#: border methods -> numpy.pad mode
_PAD_MODES = {
    "fill_zeros": "constant",
    "fill_ones": "constant",
    "edge_repeat": "edge",
    "mirror_edge": "symmetric",
    "wrap_around": "wrap",
}


def _resize(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """Bilinear resize of an (H, W, C) uint8 image."""
    channels = image.shape[2]
    pil = Image.fromarray(image[:, :, 0] if channels == 1 else image)
    out = np.asarray(pil.resize((width, height), Image.Resampling.BILINEAR))
    return out[:, :, None] if out.ndim == 2 else out


def _pad(image: np.ndarray, width: int, height: int, method: str) -> np.ndarray:
    """Pad (H, W, C) to at least (height, width), the image centred (the extra pixel goes after)."""
    extra_h = max(height - image.shape[0], 0)
    extra_w = max(width - image.shape[1], 0)
    pads = ((extra_h // 2, extra_h - extra_h // 2), (extra_w // 2, extra_w - extra_w // 2), (0, 0))
    mode = _PAD_MODES[method]
    if mode == "constant":
        value = 0 if method == "fill_zeros" else np.iinfo(np.uint8).max
        return np.pad(image, pads, mode="constant", constant_values=value)
    return np.pad(image, pads, mode=mode)


def _center_crop(image: np.ndarray, width: int, height: int) -> np.ndarray:
    top = max(image.shape[0] - height, 0) // 2
    left = max(image.shape[1] - width, 0) // 2
    return image[top : top + height, left : left + width]


def resample(image: np.ndarray, width: int, height: int, up: str, down: str) -> np.ndarray:
    """Resample an (H, W, C) uint8 image towards (height, width) with the named methods.

    A side smaller than the target is up-sampled first, then a side larger than it is down-sampled;
    ``none`` leaves that direction alone (the result may then differ from the target size).
    """
    if up not in UP_SAMPLING_METHODS:
        raise ValueError(f"unknown up_sampling_method {up!r}")
    if down not in DOWN_SAMPLING_METHODS:
        raise ValueError(f"unknown down_sampling_method {down!r}")
    h, w = image.shape[:2]
    if (h < height or w < width) and up != "none":
        image = _resize(image, width, height) if up == "resize" else _pad(image, width, height, up)
    h, w = image.shape[:2]
    if (h > height or w > width) and down != "none":
        if down == "resize":
            image = _resize(image, width, height)
        else:
            image = _center_crop(image, width, height)
    return image
