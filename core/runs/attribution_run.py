"""The attribution job of a data-set run: each batch attributed, its relevance compressed into
chunks on background threads, and the stored chunks copied into the attribution file at the end
(no second compression), with the run's configuration in its attributes.

Run by the engine in :mod:`relscope.core.runs.batch_loop`; :class:`DatasetAttribution
<relscope.core.runs.dataset_attribution.DatasetAttribution>` builds it from specifications.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from relscope.core.data.attributions import AttributionFileWriter, chunk_rows
from relscope.core.data.chunk_codec import (
    COMPRESSION_LEVEL,
    encode_rows,
    pack_chunks,
    rows_per_chunk_for,
    unpack_chunks,
)
from relscope.core.data.inputs import InputSource
from relscope.core.data.labels import labels_array
from relscope.core.errors import AttributionError
from relscope.core.runs.batch_loop import (
    CONFIG_ATTRIBUTE,
    CONFIG_HASH_ATTRIBUTE,
    Batching,
    RunResult,
    run_batches,
    stored_config_hash,
)
from relscope.core.runs.samples import Preprocessing

__all__ = [
    "CONFIG_ATTRIBUTE",
    "CONFIG_HASH_ATTRIBUTE",
    "AttributionJob",
    "Preprocessing",
    "RunResult",
    "attribute_dataset",
    "run_config",
    "stored_config_hash",
    "target_relevance",
]


def target_relevance(target: str | int, labels: list[list[int]]) -> Any:
    """The engine's ``attr_output`` for a batch: ``label``, ``prediction`` or a fixed class."""
    if target == "prediction":
        return None
    if isinstance(target, int):
        return target
    if all(len(row) == 1 for row in labels):
        return [row[0] for row in labels]

    def n_hot(output: Any) -> Any:
        import torch

        relevance = torch.zeros_like(output)
        for row, classes in enumerate(labels):
            for label in classes:
                if label >= output.shape[1]:
                    raise AttributionError(
                        f"label {label} is out of range: the model has {output.shape[1]} outputs"
                    )
                relevance[row, label] = 1.0
        return relevance

    return n_hot


def run_config(
    config: dict[str, Any],
    sample_shape: tuple[int, ...],
    batch_size: int,
    target: str | int,
    seed: int,
) -> dict[str, Any]:
    """``config`` completed with what else fixes the stored result: batching, target, seed and the
    chunk layout of samples of ``sample_shape`` ((C, H, W), or (T,) for tokens). A distributed run's joined file records the same."""
    return {
        **config,
        "batch_size": batch_size,
        "target": target,
        "seed": seed,
        "chunk_rows": rows_per_chunk_for(batch_size, chunk_rows(sample_shape)),
        "compression_level": COMPRESSION_LEVEL,
    }


class AttributionJob:
    """Attribute each batch with ``attributor`` towards ``target``; store relevance as chunks."""

    #: columns of the batches stored beside attribution, prediction and label (token ids, ...)
    extra_columns: tuple[str, ...] = ()

    def __init__(
        self,
        attributor: Any,
        inputs: InputSource,
        target: str | int,
        rows_per_chunk: int,
        with_index: bool,
    ) -> None:
        self.attributor = attributor
        self.inputs = inputs
        self.target = target
        self.rows_per_chunk = rows_per_chunk
        self.with_index = with_index

    def __enter__(self) -> AttributionJob:
        self.attributor.__enter__()
        return self

    def __exit__(self, *exc: Any) -> Any:
        return self.attributor.__exit__(*exc)

    def compute(self, inputs: Any, labels: list[list[int]]) -> dict[str, np.ndarray]:
        """Relevance, model output and labels of one batch."""
        output, relevance = self.attributor(inputs, target_relevance(self.target, labels))
        return {
            "attribution": relevance.detach().float().cpu().numpy(),
            "prediction": output.detach().float().cpu().numpy().reshape(len(labels), -1),
            "label": labels_array(labels, self.inputs.multi_label, self.inputs.label_column.width),
        }

    def encode(self, arrays: dict[str, np.ndarray], pool: ThreadPoolExecutor) -> dict[str, Any]:
        """The relevance compressed into the output's chunks; the other columns as they are."""
        attribution = arrays.pop("attribution")
        chunks = encode_rows(attribution, self.rows_per_chunk, COMPRESSION_LEVEL, pool)
        data, sizes = pack_chunks(chunks)
        return {
            "attribution_chunks": data,
            "attribution_sizes": sizes,
            "attribution_shape": np.asarray(attribution.shape, dtype=np.int64),
            **arrays,
        }

    def assemble(
        self, out: Path, batches: Iterator[dict[str, np.ndarray]], attributes: dict[str, str]
    ) -> None:
        """Copy the stored chunks into the attribution file (atomically)."""
        with AttributionFileWriter(out, self.with_index, attributes) as writer:
            for batch in batches:
                writer.append_encoded(
                    unpack_chunks(batch["attribution_chunks"], batch["attribution_sizes"]),
                    tuple(int(n) for n in batch["attribution_shape"]),
                    self.rows_per_chunk,
                    COMPRESSION_LEVEL,
                    batch["prediction"],
                    batch["label"],
                    batch["index"],
                    extra={name: batch[name] for name in self.extra_columns},
                )


def attribute_dataset(
    attributor: Any,
    inputs: InputSource,
    out: str | Path,
    config: dict[str, Any],
    *,
    indices: Sequence[int] | None = None,
    preprocessing: Preprocessing = Preprocessing(),
    target: str | int = "label",
    batch_size: int = 32,
    device: str = "cpu",
    workers: int = 0,
    resume: bool = False,
    seed: int = 0,
    progress: bool = True,
    batch_numbers: Sequence[int] | None = None,
    with_index: bool | None = None,
    progress_label: str = "attribute",
    job_class: type[AttributionJob] | None = None,
) -> RunResult:
    """Attribute ``inputs[indices]`` with ``attributor`` (an entered-able Attributor) into ``out``.

    ``config`` describes everything that determines the result; it is stored with the partial run
    and the output, and a resume with a different one is refused. ``index`` is written when
    ``indices`` is not the whole data set in order (or when ``with_index`` is True).
    ``job_class`` replaces :class:`AttributionJob` (e.g. the token job).
    """
    all_indices = list(range(len(inputs))) if indices is None else [int(i) for i in indices]
    if with_index is None:
        with_index = all_indices != list(range(len(inputs)))
    if all_indices:
        shape = inputs.attribution_shape(all_indices[0])
        config = run_config(config, shape, batch_size, target, seed)
    job = (job_class or AttributionJob)(
        attributor, inputs, target, config.get("chunk_rows", 1), with_index
    )
    return run_batches(
        job,
        inputs,
        out,
        config,
        all_indices,
        preprocessing=preprocessing,
        batching=Batching(batch_size, device, workers, seed),
        resume=resume,
        progress=progress,
        batch_numbers=batch_numbers,
        progress_label=progress_label,
    )
