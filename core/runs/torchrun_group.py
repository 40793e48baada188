"""The ``torch.distributed`` process group of a ``torchrun`` launch: who this rank is, waiting for
the others, and sharing small status objects.

Only coordination travels through the group (a barrier and a few small Python objects); the
attributions themselves go to shard files on a shared file system. ``gloo`` is enough for that and
is the default even on GPUs; ``nccl`` works as well.
"""

from __future__ import annotations

import contextlib
import datetime
import os
from collections.abc import Iterator
from typing import Any

import attrs

from relscope.core.errors import DistributedError

#: what torchrun sets for every worker process (init_process_group reads the env:// ones)
TORCHRUN_VARIABLES = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")
BACKENDS = ("gloo", "nccl")


@attrs.frozen
class TorchrunGroup:
    """This process's place in the launch: rank, world size, rank on its node, backend."""

    rank: int
    world_size: int
    local_rank: int
    backend: str

    def barrier(self) -> None:
        """Wait until every rank got here."""
        import torch.distributed as dist

        dist.barrier()

    def all_gather(self, value: Any) -> list[Any]:
        """Every rank's ``value`` (a small picklable object), indexed by rank, on every rank."""
        import torch.distributed as dist

        gathered: list[Any] = [None] * self.world_size
        dist.all_gather_object(gathered, value)
        return gathered

    @contextlib.contextmanager
    def rank_zero_first(self) -> Iterator[None]:
        """Run the block on rank 0 first, then on the others (e.g. writing a shared input file)."""
        if self.rank != 0:
            self.barrier()
        yield
        if self.rank == 0:
            self.barrier()


def rank_device(device: str, local_rank: int) -> str:
    """``cuda`` means this rank's GPU (``cuda:LOCAL_RANK``); anything else is kept as given."""
    return f"cuda:{local_rank}" if device == "cuda" else device


@contextlib.contextmanager
def torchrun_group(
    backend: str = "gloo", timeout_minutes: float = 120.0
) -> Iterator[TorchrunGroup]:
    """Join the process group torchrun prepared (env:// rendezvous), leave it afterwards.

    ``timeout_minutes`` bounds every wait, in particular the one for the slowest shard.
    """
    missing = [name for name in TORCHRUN_VARIABLES if name not in os.environ]
    if missing:
        raise DistributedError(
            f"--distributed: {', '.join(missing)} not set; start the command with torchrun, e.g. "
            "torchrun --nproc_per_node=2 -m relscope.core.cli attribute ... --distributed"
        )
    if backend not in BACKENDS:
        raise DistributedError(f"--dist-backend: expected gloo or nccl, got {backend!r}")
    try:
        rank, world_size, local_rank = (
            int(os.environ[name]) for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK")
        )
    except ValueError:
        raise DistributedError(
            "--distributed: RANK, WORLD_SIZE and LOCAL_RANK must be integers"
        ) from None
    import torch
    import torch.distributed as dist

    if not dist.is_available():
        raise DistributedError("--distributed: this torch build has no torch.distributed")
    if backend == "nccl":
        if not torch.cuda.is_available():
            raise DistributedError("--dist-backend nccl: no CUDA device is available")
        torch.cuda.set_device(local_rank)
    dist.init_process_group(
        backend=backend,
        init_method="env://",
        timeout=datetime.timedelta(minutes=timeout_minutes),
    )
    try:
        yield TorchrunGroup(rank, world_size, local_rank, backend)
    finally:
        dist.destroy_process_group()
