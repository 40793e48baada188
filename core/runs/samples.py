"""The samples of a data-set run: a torch Dataset over an InputSource, batch collation, and the
model's input normalisation (with the z^B box it implies)."""

from __future__ import annotations

from collections.abc import Sequence

import attrs
import torch

from relscope.core.data.inputs import InputSource
from relscope.core.errors import DataFormatError


@attrs.frozen
class Preprocessing:
    """Per-channel normalisation ``(x - mean) / std`` of [0, 1] images, and the z^B box it implies.

    ``channels``: grey (1-channel) images are repeated to this many channels first (a 3-channel
    model fed grey images)."""

    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None
    channels: int | None = None

    def _stats(self, channels: int) -> tuple[torch.Tensor, torch.Tensor]:
        mean = torch.tensor(self.mean or (0.0,), dtype=torch.float32)
        std = torch.tensor(self.std or (1.0,), dtype=torch.float32)
        for name, values in (("mean", mean), ("std", std)):
            if values.numel() not in (1, channels):
                raise DataFormatError(
                    f"--{name} has {values.numel()} values but the images have {channels} channels"
                )
        return mean.expand(channels).reshape(channels, 1, 1), std.expand(channels).reshape(
            channels, 1, 1
        )

    def normalise(self, image: torch.Tensor) -> torch.Tensor:
        """(C, H, W) or (B, C, H, W) in [0, 1] -> the model's input space (on image's device)."""
        if self.channels is not None and image.shape[-3] == 1 and self.channels != 1:
            image = image.expand(*image.shape[:-3], self.channels, *image.shape[-2:]).contiguous()
        if self.mean is None and self.std is None:
            return image
        mean, std = self._stats(image.shape[-3])
        return (image - mean.to(image.device)) / std.to(image.device)

    def bounds(self, channels: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The z^B box: where pixel values 0 and 1 land after normalisation, (1, C, 1, 1) each."""
        mean, std = self._stats(channels)
        return ((0.0 - mean) / std)[None], ((1.0 - mean) / std)[None]


class SampleDataset(torch.utils.data.Dataset):
    """Samples ``indices`` of ``inputs`` as (CHW tensor in [0, 1], labels, index) triples (token
    sources: their (2, T) ids and mask); image batches are normalised on the model's device."""

    def __init__(self, inputs: InputSource, indices: Sequence[int]) -> None:
        self.inputs = inputs
        self.indices = list(indices)

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, position: int) -> tuple[torch.Tensor, list[int], int]:
        index = self.indices[position]
        sample = torch.from_numpy(self.inputs.sample(index))
        return sample, self.inputs.labels(index), index


def collate(batch: list[tuple[torch.Tensor, list[int], int]]) -> tuple[torch.Tensor, list, list]:
    """Stack images; keep label lists (they may differ in length) and indices as lists."""
    shapes = {tuple(item[0].shape) for item in batch}
    if len(shapes) > 1:
        raise DataFormatError(
            f"samples {[item[2] for item in batch]} differ in size {sorted(shapes)}; "
            "give an input size with resampling so every sample has the same shape"
        )
    return (
        torch.stack([item[0] for item in batch]),
        [item[1] for item in batch],
        [item[2] for item in batch],
    )
