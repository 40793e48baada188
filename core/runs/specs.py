"""The specifications every data-set run shares: which model (and its input normalisation) and
which samples of which data. Commands parse flags into these; runs load them."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import attrs

from relscope.core.data.sources import DataSource, ImageOptions, open_data_source
from relscope.core.errors import AttributeUsageError


@attrs.frozen
class ModelSpec:
    """A model by specification (``torchvision:<name>``, ``module:factory``, TorchScript file),
    its weights file, whether random weights are allowed, and its input normalisation."""

    spec: str
    weights: Path | None = None
    random_weights: bool = False
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None

    def load(self) -> Any:
        """The :class:`~relscope.core.model_loading.LoadedModel` (nothing is downloaded)."""
        from relscope.core.model_loading import load_model_spec

        return load_model_spec(
            self.spec,
            weights=self.weights,
            random_weights=self.random_weights,
            mean=self.mean,
            std=self.std,
        )


@attrs.frozen
class DataSpec:
    """A ``--data`` value with its label map, image-folder options, and which samples to take
    (``indices`` text such as ``0:100,250``, or the first ``limit``; default all)."""

    spec: str
    label_map: Path | None = None
    image_options: ImageOptions = ImageOptions()
    data_out: Path | None = None
    indices: str | None = None
    limit: int | None = None

    def open(self, workdir: Path, group: Any = None) -> DataSource:
        """Open the data (under torchrun rank 0 first: it may write the built-in data file)."""
        with group.rank_zero_first() if group is not None else contextlib.nullcontext():
            return open_data_source(
                self.spec,
                workdir=workdir,
                label_map_path=self.label_map,
                image_options=self.image_options,
                data_out=self.data_out,
            )

    def select(self, count: int) -> list[int]:
        """The chosen sample indices of a data set of ``count`` samples."""
        if self.limit is not None and self.indices is not None:
            raise AttributeUsageError("give --limit or --indices, not both")
        if self.indices is not None:
            chosen = parse_indices(self.indices, count)
        else:
            chosen = list(range(min(count, self.limit or count)))
        if not chosen:
            raise AttributeUsageError(f"--data {self.spec}: no samples to attribute")
        return chosen


def parse_indices(text: str, count: int) -> list[int]:
    """``0:100,250,300:310`` (Python slices and single indices, comma separated) -> index list."""
    out: list[int] = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        try:
            if ":" in part:
                bounds = [int(p) if p.strip() else None for p in part.split(":")]
                out.extend(range(count)[slice(*bounds)])
            else:
                out.append(int(part))
        except ValueError:
            raise AttributeUsageError(
                f"--indices: cannot read {part!r} (expected e.g. 0:100,250,300:310)"
            ) from None
    bad = [i for i in out if not 0 <= i < count]
    if bad:
        raise AttributeUsageError(
            f"--indices: sample {bad[0]} is outside the data set of {count} samples"
        )
    if len(set(out)) != len(out):
        raise AttributeUsageError("--indices: a sample is listed twice")
    return out


def check_device(device: str) -> None:
    """Refuse a device torch does not know or cannot use here (one line, exit 2)."""
    import torch

    try:
        parsed = torch.device(device)
    except RuntimeError:
        raise AttributeUsageError(f"--device: unknown device {device!r}") from None
    if parsed.type == "cuda" and not torch.cuda.is_available():
        raise AttributeUsageError("--device cuda: no CUDA device is available")
    if parsed.type not in ("cpu", "cuda"):
        raise AttributeUsageError(f"--device: expected cpu or cuda, got {device!r}")
