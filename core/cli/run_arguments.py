"""The flag groups that every data-set run shares (model, data, batching), and their parsing into
the run specifications of :mod:`relscope.core.runs.specs`."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from relscope.core.cli.argument_types import image_size, positive_int


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    """The options that choose a model and its input normalisation."""
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
    """The options that choose and read the data set."""
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
    group.add_argument("--input-size", type=image_size, help="WIDTHxHEIGHT images are brought to")
    group.add_argument("--up-sampling", default="resize", help="up_sampling_method for images")
    group.add_argument("--down-sampling", default="resize", help="down_sampling_method for images")
    group.add_argument("--label-index-regex", help="image_directory: regex, group 1 = label index")
    group.add_argument(
        "--label-word-net-id-regex", help="image_directory: regex, group 1 = word_net_id"
    )


def add_sample_arguments(parser: argparse.ArgumentParser) -> None:
    """The options that choose which samples of the data a run takes."""
    group = parser.add_argument_group("samples")
    group.add_argument("--limit", type=positive_int, help="take only the first N samples")
    group.add_argument("--indices", help="take only these samples, e.g. 0:100,250")


def add_batching_arguments(parser: argparse.ArgumentParser) -> None:
    """The options that say how samples go through the model."""
    group = parser.add_argument_group("batching")
    group.add_argument("--batch-size", type=positive_int, default=32)
    group.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    group.add_argument(
        "--workers", type=int, default=2, help="DataLoader worker processes (0: load in-process)"
    )
    group.add_argument(
        "--seed", type=int, default=0, help="seed of random weights and stochastic attributors"
    )


def add_distributed_arguments(parser: argparse.ArgumentParser, what: str) -> None:
    """The torchrun flags of a data-set run: ``--distributed`` (``what`` says what a rank does),
    ``--dist-backend`` and ``--dist-timeout``."""
    dist_group = parser.add_argument_group("distributed (start with torchrun)")
    dist_group.add_argument("--distributed", action="store_true", help=what)
    dist_group.add_argument(
        "--dist-backend",
        choices=("gloo", "nccl"),
        default="gloo",
        help="torch.distributed backend; only coordination goes through it (default: gloo)",
    )
    dist_group.add_argument(
        "--dist-timeout",
        type=positive_int,
        default=120,
        metavar="MINUTES",
        help="how long ranks wait for each other, e.g. for the slowest shard (default: 120)",
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


def model_spec(args: argparse.Namespace) -> Any:
    """The :class:`~relscope.core.runs.specs.ModelSpec` of :func:`add_model_arguments`."""
    from relscope.core.runs.specs import ModelSpec

    return ModelSpec(
        args.model,
        args.weights,
        args.random_weights,
        tuple(args.mean) if args.mean else None,
        tuple(args.std) if args.std else None,
    )


def data_spec(args: argparse.Namespace) -> Any:
    """The :class:`~relscope.core.runs.specs.DataSpec` of the data and sample options."""
    from relscope.core.runs.specs import DataSpec

    return DataSpec(
        args.data,
        args.label_map,
        image_options(args),
        args.data_out,
        getattr(args, "indices", None),
        getattr(args, "limit", None),
    )


def batching(args: argparse.Namespace) -> Any:
    """The :class:`~relscope.core.runs.batch_loop.Batching` of :func:`add_batching_arguments`."""
    from relscope.core.runs.batch_loop import Batching

    return Batching(args.batch_size, args.device, args.workers, args.seed)
