"""A whole data set attributed, as one value: model, data, method and batching in, an attribution
file out. The value owns the run's identity (what ``--resume`` compares), runs it in one process
or as this rank's shard under torchrun, and leaves the output complete or not at all."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import attrs

from relscope.core.errors import AttributeUsageError
from relscope.core.runs.batch_loop import Batching
from relscope.core.runs.identity import file_hash, model_hash
from relscope.core.runs.samples import Preprocessing
from relscope.core.runs.specs import DataSpec, ModelSpec, check_device

#: format tag of the configuration an attribution run records
CONFIG_FORMAT = "relscope-attribute/1"


@attrs.frozen
class DatasetAttribution:
    """Attribute ``data`` with ``model`` and a composite (``"none"``: plain attributor) into ``out``."""

    model: ModelSpec
    data: DataSpec
    out: Path
    composite: str = "none"
    composite_params: dict[str, Any] = attrs.field(factory=dict)
    attributor: str = "gradient"
    attributor_params: dict[str, Any] = attrs.field(factory=dict)
    target: str | int = "label"
    batching: Batching = Batching()
    resume: bool = False

    def prepare(self, group: Any = None) -> PreparedAttribution:
        """Resolve everything (failing before any output exists): names, model, data, samples."""
        from relscope.core.registry import get_registry

        check_device(self.batching.device)
        out = self.out.absolute()
        if out.is_dir():
            raise AttributeUsageError(f"--out {self.out}: is a folder, expected an HDF5 file name")
        if self.composite != "none":
            get_registry("composites").entry(self.composite)  # unknown names fail first
        elif self.composite_params:
            raise AttributeUsageError("--composite-param needs a composite (got --composite none)")
        get_registry("attributors").entry(self.attributor)
        from relscope.core.model_loading import grey_repeat_channels

        loaded = self.model.load(seed=self.batching.seed)
        source = self.data.open(out.parent, group)
        device = self.batching.device
        if group is not None:
            from relscope.core.runs.torchrun_group import rank_device

            device = rank_device(device, group.local_rank)
        indices = self.data.select(len(source.inputs))
        job_class = None
        repeat = None
        tokens = getattr(source.inputs, "is_tokens", False)
        if not tokens:
            if self.target == "next-token":
                raise AttributeUsageError(
                    f"--target next-token: needs token data (input_ids), {self.data.spec} holds "
                    "images"
                )
            channels = source.inputs.image(indices[0]).shape[2]
            repeat = grey_repeat_channels(loaded.model, channels)
        preprocessing = Preprocessing(
            tuple(loaded.mean) if loaded.mean is not None else None,
            tuple(loaded.std) if loaded.std is not None else None,
            channels=repeat,
        )
        if tokens:
            from relscope.core.runs.token_attribution import TokenAttributionJob, token_model

            model = token_model(loaded.model, self.model.spec, self.target).to(device).eval()
            bounds = None  # token embeddings have no pixel box
            job_class = TokenAttributionJob
        else:
            channels = repeat or channels
            bounds = tuple(b.to(device) for b in preprocessing.bounds(channels))
            model = loaded.model.to(device).eval()
        composite = composite_for_inputs(self.composite, self.composite_params, bounds)
        attributor = get_registry("attributors").create(
            self.attributor, model=model, composite=composite, **self.attributor_params
        )
        return PreparedAttribution(
            self, out, model, source, indices, preprocessing, attributor, device, job_class
        )

    def config(self) -> dict[str, Any]:
        """The run's identity: what its output records and ``--resume`` compares (this loads the
        model and opens the data; a prepared run has it at hand as ``prepared.config()``)."""
        prepared = self.prepare()
        prepared.source.inputs.close()
        return prepared.config()


@attrs.define
class PreparedAttribution:
    """A resolved :class:`DatasetAttribution`, ready to run (its data source is open)."""

    run_spec: DatasetAttribution
    out: Path
    model: Any
    source: Any
    indices: list[int]
    preprocessing: Preprocessing
    attributor: Any
    device: str
    #: the batch job (None: the image AttributionJob; token data: TokenAttributionJob)
    job_class: Any = None

    def config(self) -> dict[str, Any]:
        """Everything that fixes the result, as the run records and ``--resume`` compares it."""
        import torch

        spec = self.run_spec
        mean, std = self.preprocessing.mean, self.preprocessing.std
        repeat = self.preprocessing.channels
        return {
            "format": CONFIG_FORMAT,
            "model": spec.model.spec,
            "model_state": model_hash(self.model),
            "weights_file": file_hash(spec.model.weights),
            "mean": list(mean) if mean else None,
            "std": list(std) if std else None,
            **({"grey_repeated_to": repeat} if repeat is not None else {}),
            "composite": spec.composite,
            "composite_params": {k: repr(v) for k, v in sorted(spec.composite_params.items())},
            "attributor": spec.attributor,
            "attributor_params": {k: repr(v) for k, v in sorted(spec.attributor_params.items())},
            "data": spec.data.spec,
            "data_fingerprint": self.source.fingerprint,
            "indices": hashlib.sha256(repr(self.indices).encode()).hexdigest(),
            "samples": len(self.indices),
            "device": torch.device(spec.batching.device).type,
            "torch": torch.__version__,
            **({"data_type": "tokens"} if self.job_class is not None else {}),
        }

    def output_path(self, group: Any = None) -> Path:
        """The file this process writes: the output, or this rank's shard of it."""
        if group is None:
            return self.out
        from relscope.core.runs.shards import Shard

        return Shard(group.rank, group.world_size).path(self.out)

    def run(self, group: Any = None, progress: bool = True) -> Any:
        """Attribute (this rank's shard under torchrun); closes the data source afterwards.

        Returns the :class:`~relscope.core.runs.batch_loop.RunResult`, or under torchrun the
        :class:`~relscope.core.runs.distributed.DistributedResult`.
        """
        spec = self.run_spec
        options = {
            "indices": self.indices,
            "preprocessing": self.preprocessing,
            "target": spec.target,
            "batch_size": spec.batching.batch_size,
            "device": self.device,
            "workers": spec.batching.workers,
            "resume": spec.resume,
            "seed": spec.batching.seed,
            "job_class": self.job_class,
        }
        try:
            if group is not None:
                from relscope.core.runs.distributed import attribute_distributed

                return attribute_distributed(
                    group,
                    self.attributor,
                    self.source.inputs,
                    self.out,
                    self.config(),
                    progress=progress and group.rank == 0,
                    **options,
                )
            from relscope.core.runs.attribution_run import attribute_dataset

            return attribute_dataset(
                self.attributor,
                self.source.inputs,
                self.out,
                self.config(),
                progress=progress,
                **options,
            )
        finally:
            self.source.inputs.close()


def composite_for_inputs(name: str, params: dict[str, Any], bounds: tuple[Any, Any] | None) -> Any:
    """The composite ``name`` with ``params``; the z^B box of the input normalisation is passed as
    ``low``/``high`` when the composite takes them and they were not given (token data has no
    box: ``bounds`` None)."""
    if name == "none":
        return None
    from relscope.core.registry import get_registry

    registry = get_registry("composites")
    params = dict(params)
    accepted = registry.parameters(name)
    if bounds is not None and "low" in accepted and "high" in accepted:
        params.setdefault("low", bounds[0])
        params.setdefault("high", bounds[1])
    return registry.create(name, **params)
