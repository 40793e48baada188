"""``relscope attribute``: attribute a whole data set into a ViRelAy-compatible attribution file.

Resumable (``--resume`` continues after the last complete batch, bit for bit), with a progress bar
on stderr and optionally a project YAML + label map written next to the output (``--project``).
Under torchrun, ``--distributed`` splits the work into per-rank shards that rank 0 joins (see
:mod:`relscope.core.data.distributed_attribution`).
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import inspect
import sys
from pathlib import Path
from typing import Any

from relscope.core import hookimpl
from relscope.core.errors import AttributeUsageError

#: --target values besides a class index
TARGETS = ("label", "prediction")


def _target(text: str) -> str | int:
    if text in TARGETS:
        return text
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected label, prediction or a class index, got {text!r}"
        ) from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"a class index must be >= 0, got {value}")
    return value


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def _size(text: str) -> tuple[int, int]:
    try:
        width, height = (int(part) for part in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected WIDTHxHEIGHT, e.g. 224x224, got {text!r}"
        ) from None
    if width <= 0 or height <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive size, got {text!r}")
    return width, height


def parse_param(text: str) -> tuple[str, Any]:
    """``KEY=VALUE`` with VALUE read as YAML (numbers, booleans, lists), else kept as a string."""
    import yaml

    key, sep, raw = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    try:
        value = yaml.safe_load(raw)
    except yaml.YAMLError:
        value = raw
    return key.strip(), value


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


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    """The options that choose a model and its input normalisation (shared with benchmarks)."""
    group = parser.add_argument_group("model")
    group.add_argument(
        "--model",
        required=True,
        help="torchvision:<name>, package.module:factory, hf:<saved from_pretrained folder>, or a "
        "TorchScript file",
    )
    group.add_argument("--weights", type=Path, help="state dict file to load into the model")
    group.add_argument(
        "--random-weights",
        action="store_true",
        help="allow a torchvision model with random weights (no --weights)",
    )
    group.add_argument("--mean", type=float, nargs="+", help="per-channel mean of the model input")
    group.add_argument("--std", type=float, nargs="+", help="per-channel std of the model input")


def add_data_arguments(parser: argparse.ArgumentParser) -> None:
    """The options that choose and read the data set (shared with ``relscope project new``)."""
    group = parser.add_argument_group("data")
    group.add_argument(
        "--data",
        required=True,
        help="builtin:digits, an input HDF5 file, an image folder, or a project YAML",
    )
    group.add_argument("--label-map", type=Path, help="label-map JSON (default: derived)")
    group.add_argument(
        "--data-out", type=Path, help="where builtin data is written (default: next to the output)"
    )
    group.add_argument("--input-size", type=_size, help="WIDTHxHEIGHT images are brought to")
    group.add_argument("--up-sampling", default="resize", help="up_sampling_method for images")
    group.add_argument("--down-sampling", default="resize", help="down_sampling_method for images")
    group.add_argument("--label-index-regex", help="image_directory: regex, group 1 = label index")
    group.add_argument(
        "--label-word-net-id-regex", help="image_directory: regex, group 1 = word_net_id"
    )


def image_options(args: argparse.Namespace) -> Any:
    """The image-folder reading options given by :func:`add_data_arguments`."""
    from relscope.core.data.sources import ImageOptions

    width, height = args.input_size or (None, None)
    return ImageOptions(
        width,
        height,
        args.up_sampling,
        args.down_sampling,
        args.label_index_regex,
        args.label_word_net_id_regex,
    )


@hookimpl
def register_commands(subparsers: Any) -> None:
    """Declare ``relscope attribute``."""
    parser = subparsers.add_parser(
        "attribute",
        help="attribute a whole data set into an attribution HDF5 file",
        description="Attribute every sample of a data set with a composite (LRP) or another "
        "attributor and write attribution, prediction, label (and index for subsets) to an "
        "HDF5 file that ViRelAy and the relscope explorer read. Interrupted runs resume with "
        "--resume.",
    )
    add_model_arguments(parser)
    add_data_arguments(parser)
    group = parser.add_argument_group("attribution")
    group.add_argument(
        "--composite",
        required=True,
        help="composite name (relscope list composites), or 'none' for plain gradients",
    )
    group.add_argument(
        "--composite-param",
        type=parse_param,
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="composite parameter (repeatable)",
    )
    group.add_argument(
        "--attributor", default="gradient", help="attributor name (relscope list attributors)"
    )
    group.add_argument(
        "--attributor-param",
        type=parse_param,
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="attributor parameter (repeatable)",
    )
    group.add_argument(
        "--target",
        type=_target,
        default="label",
        help="label (true label), prediction (argmax) or a class index (default: label)",
    )
    group.add_argument("--seed", type=int, default=0, help="seed of stochastic attributors")
    run_group = parser.add_argument_group("run")
    run_group.add_argument("--out", type=Path, required=True, help="attribution HDF5 to write")
    run_group.add_argument("--batch-size", type=_positive, default=32)
    run_group.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    run_group.add_argument(
        "--workers", type=int, default=2, help="DataLoader worker processes (0: load in-process)"
    )
    run_group.add_argument("--limit", type=_positive, help="attribute only the first N samples")
    run_group.add_argument("--indices", help="attribute only these samples, e.g. 0:100,250")
    run_group.add_argument(
        "--resume", action="store_true", help="continue an interrupted run with the same options"
    )
    run_group.add_argument("--quiet", action="store_true", help="no progress bar")
    run_group.add_argument(
        "--project",
        type=Path,
        help="also write this project YAML (and a label map next to it); its "
        "attribution_strategy is true_label for --target label, else predicted_label",
    )
    run_group.add_argument("--project-name", help="name shown for the project (default: data name)")
    dist_group = parser.add_argument_group("distributed (start with torchrun)")
    dist_group.add_argument(
        "--distributed",
        action="store_true",
        help="attribute this torchrun rank's shard into OUT.shards/; rank 0 then joins the "
        "shards into OUT (an HDF5 virtual-dataset file); see README: Running on a cluster",
    )
    dist_group.add_argument(
        "--dist-backend",
        choices=("gloo", "nccl"),
        default="gloo",
        help="torch.distributed backend; only coordination goes through it (default: gloo)",
    )
    dist_group.add_argument(
        "--dist-timeout",
        type=_positive,
        default=120,
        metavar="MINUTES",
        help="how long ranks wait for each other, e.g. for the slowest shard (default: 120)",
    )
    parser.set_defaults(func=run)


def _check_device(device: str) -> None:
    import torch

    try:
        parsed = torch.device(device)
    except RuntimeError:
        raise AttributeUsageError(f"--device: unknown device {device!r}") from None
    if parsed.type == "cuda" and not torch.cuda.is_available():
        raise AttributeUsageError("--device cuda: no CUDA device is available")
    if parsed.type not in ("cpu", "cuda"):
        raise AttributeUsageError(f"--device: expected cpu or cuda, got {device!r}")


def _file_hash(path: Path | None) -> str | None:
    if path is None:
        return None
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def model_hash(model: Any) -> str:
    """SHA-256 over the model's parameters and buffers (names, dtypes, shapes, bytes)."""
    import torch

    digest = hashlib.sha256()
    for name, tensor in model.state_dict().items():
        digest.update(f"{name}:{tensor.dtype}:{tuple(tensor.shape)}".encode())
        digest.update(tensor.detach().cpu().contiguous().view(-1).view(torch.uint8).numpy())
    return digest.hexdigest()


def build_composite(name: str, params: dict[str, Any], bounds: tuple[Any, Any]) -> Any:
    """The composite ``name`` with ``params``; the z^B box of the input normalisation is passed as
    ``low``/``high`` when the composite takes them and they were not given."""
    if name == "none":
        if params:
            raise AttributeUsageError("--composite-param needs a composite (got --composite none)")
        return None
    from relscope.core.attribution import get_composite
    from relscope.core.registry import get_registry

    factory = get_registry("composites").lookup(name)
    params = dict(params)
    try:
        accepted = inspect.signature(factory).parameters
    except (TypeError, ValueError):
        accepted = {}
    if "low" in accepted and "high" in accepted:
        params.setdefault("low", bounds[0])
        params.setdefault("high", bounds[1])
    return get_composite(name, **params)


def run(args: argparse.Namespace) -> int:
    """Resolve everything (failing before any output exists), then attribute and write; with
    ``--distributed``, inside the torchrun process group."""
    if not args.distributed:
        return _run(args, None)
    from relscope.core.data.torchrun_group import torchrun_group

    with torchrun_group(args.dist_backend, args.dist_timeout) as group:
        return _run(args, group)


def _run(args: argparse.Namespace, group: Any) -> int:
    import torch

    from relscope.core.attribution import get_attributor
    from relscope.core.data.attribute_dataset import Preprocessing, attribute_dataset
    from relscope.core.data.sources import open_data_source
    from relscope.core.registry import get_registry

    _check_device(args.device)
    if args.limit is not None and args.indices is not None:
        raise AttributeUsageError("give --limit or --indices, not both")
    out = args.out.absolute()
    if out.is_dir():
        raise AttributeUsageError(f"--out {args.out}: is a folder, expected an HDF5 file name")
    if args.composite != "none":
        get_registry("composites").lookup(args.composite)  # unknown names fail before any work
    get_registry("attributors").lookup(args.attributor)

    from relscope.core.model_loading import load_model_spec

    loaded = load_model_spec(
        args.model,
        weights=args.weights,
        random_weights=args.random_weights,
        mean=args.mean,
        std=args.std,
    )
    model = loaded.model
    preprocessing = Preprocessing(
        tuple(loaded.mean) if loaded.mean is not None else None,
        tuple(loaded.std) if loaded.std is not None else None,
    )
    options = image_options(args)
    with group.rank_zero_first() if group is not None else contextlib.nullcontext():
        source = open_data_source(  # rank 0 first: it may write the builtin data file
            args.data,
            workdir=out.parent,
            label_map_path=args.label_map,
            image_options=options,
            data_out=args.data_out,
        )
    device = args.device
    if group is not None:
        from relscope.core.data.torchrun_group import rank_device

        device = rank_device(args.device, group.local_rank)
    count = len(source.inputs)
    if args.indices is not None:
        indices = parse_indices(args.indices, count)
    else:
        indices = list(range(min(count, args.limit or count)))
    if not indices:
        raise AttributeUsageError(f"--data {args.data}: no samples to attribute")
    channels = source.inputs.image(indices[0]).shape[2]
    bounds = tuple(b.to(device) for b in preprocessing.bounds(channels))
    composite_params = dict(args.composite_param)
    attributor_params = dict(args.attributor_param)
    composite = build_composite(args.composite, composite_params, bounds)
    model = model.to(device).eval()
    attributor = get_attributor(
        args.attributor, model=model, composite=composite, **attributor_params
    )
    config = {
        "format": "relscope-attribute/1",
        "model": args.model,
        "model_state": model_hash(model),
        "weights_file": _file_hash(args.weights),
        "mean": list(preprocessing.mean) if preprocessing.mean else None,
        "std": list(preprocessing.std) if preprocessing.std else None,
        "composite": args.composite,
        "composite_params": {k: repr(v) for k, v in sorted(composite_params.items())},
        "attributor": args.attributor,
        "attributor_params": {k: repr(v) for k, v in sorted(attributor_params.items())},
        "data": args.data,
        "data_fingerprint": source.fingerprint,
        "indices": hashlib.sha256(repr(indices).encode()).hexdigest(),
        "samples": len(indices),
        "device": torch.device(args.device).type,
        "torch": torch.__version__,
    }
    run_options = {
        "indices": indices,
        "preprocessing": preprocessing,
        "target": args.target,
        "batch_size": args.batch_size,
        "device": device,
        "workers": args.workers,
        "resume": args.resume,
        "seed": args.seed,
    }
    written = out
    try:
        if group is not None:
            from relscope.core.data.attribution_shards import Shard
            from relscope.core.data.distributed_attribution import attribute_distributed

            written = Shard(group.rank, group.world_size).path(out)
            shards = attribute_distributed(
                group,
                attributor,
                source.inputs,
                out,
                config,
                progress=not args.quiet and group.rank == 0,
                **run_options,
            )
        else:
            result = attribute_dataset(
                attributor, source.inputs, out, config, progress=not args.quiet, **run_options
            )
    except KeyboardInterrupt:
        partial = written.with_name(written.name + ".partial")
        if partial.exists():
            print(
                f"relscope: interrupted; finished batches are kept in {partial}, "
                "rerun the same command with --resume to continue",
                file=sys.stderr,
            )
        raise
    finally:
        source.inputs.close()
    if group is not None:
        if not args.quiet:
            state = _shard_state(shards.outcomes[group.rank])
            print(f"rank {group.rank}/{group.world_size}: {shards.shard}: {state}", file=sys.stderr)
        if group.rank != 0:
            return 0
        if not shards.joined and not args.quiet:
            print(f"{out}: already complete with this configuration", file=sys.stderr)
        files = sum(1 for outcome in shards.outcomes if outcome.samples)
        print(f"{out}: {len(indices)} attributions in {files} shards")
    else:
        if not args.quiet:
            if result.already_complete:
                print(f"{out}: already complete with this configuration", file=sys.stderr)
            elif result.resumed_from:
                print(f"{out}: resumed after {result.resumed_from} samples", file=sys.stderr)
            if result.discarded_partial:
                print(
                    f"{out}: started over; the earlier partial run (no --resume) was discarded",
                    file=sys.stderr,
                )
        print(f"{out}: {len(indices)} attributions")
    if args.project is not None:
        from relscope.core.data.project import AttributionsSpec, write_project_files

        strategy = "true_label" if args.target == "label" else "predicted_label"
        method = args.composite if args.composite != "none" else args.attributor
        project_path = write_project_files(
            args.project,
            name=args.project_name or source.dataset.name,
            model=args.model,
            dataset=source.dataset,
            label_map=source.label_map,
            label_map_path=args.label_map,
            attributions=AttributionsSpec(method, strategy, [out]),
        )
        print(f"{project_path}: project written")
    return 0


def _shard_state(outcome: Any) -> str:
    """One rank's shard in words, for its line on stderr."""
    if outcome.samples == 0:
        return "no batches (fewer batches than ranks)"
    if outcome.already_complete:
        return "already complete"
    if outcome.resumed_from:
        return f"resumed after {outcome.resumed_from} samples"
    return f"{outcome.attributed} samples attributed"
