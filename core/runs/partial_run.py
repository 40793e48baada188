"""A resumable run: completed batches land as separate atomic files in ``<out>.partial/``.

Every batch file appears whole or not at all, so Ctrl-C or even SIGKILL at any moment leaves a
resumable state. The folder also holds the run's configuration; resuming with a different one is
refused. When all batches are there they are assembled into ``<out>`` (atomically) and the folder
is removed, so no output ever mixes two runs or two configurations.
"""

from __future__ import annotations

import contextlib
import json
import re
import shutil
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from relscope.core.data.atomic import atomic_path, write_text_atomic
from relscope.core.errors import ResumeError
from relscope.core.runs.identity import canonical_config, config_differences, config_hash

__all__ = ["PartialRun", "canonical_config", "config_differences", "config_hash"]

CONFIG_NAME = "config.json"
_BATCH = re.compile(r"^batch-(\d{6})\.npz$")


class PartialRun:
    """The on-disk state of an unfinished run writing ``out``."""

    def __init__(self, out: str | Path, config: Mapping[str, Any]) -> None:
        self.out = Path(out)
        self.dir = self.out.with_name(self.out.name + ".partial")
        self.config = canonical_config(config)

    def _batch_path(self, number: int) -> Path:
        return self.dir / f"batch-{number:06d}.npz"

    def exists(self) -> bool:
        """True when a partial folder with a stored configuration is there."""
        return (self.dir / CONFIG_NAME).is_file()

    def stored_config(self) -> dict[str, Any]:
        """The configuration the partial run was started with."""
        try:
            return json.loads((self.dir / CONFIG_NAME).read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise ResumeError(f"{self.dir}: unreadable {CONFIG_NAME} ({exc})") from None

    def check_same_config(self) -> None:
        """Refuse (ResumeError) when the stored configuration differs from this run's."""
        stored = self.stored_config()
        differences = config_differences(stored, self.config)
        if differences:
            raise ResumeError(
                f"{self.dir}: cannot resume, it was started with a different configuration "
                f"(differs in: {', '.join(differences)}); delete it or run without --resume"
            )

    def completed_batches(self) -> int:
        """How many leading batches (0, 1, 2, ...) are complete on disk."""
        if not self.dir.is_dir():
            return 0
        present = {int(m.group(1)) for m in (_BATCH.match(p.name) for p in self.dir.iterdir()) if m}
        count = 0
        while count in present:
            count += 1
        return count

    def discard(self) -> None:
        """Remove the partial folder (a fresh start)."""
        shutil.rmtree(self.dir, ignore_errors=True)

    def tidy(self, keep: int) -> None:
        """Drop temporary files and batches from ``keep`` on (left by an interrupted write)."""
        if not self.dir.is_dir():
            return
        for entry in self.dir.iterdir():
            match = _BATCH.match(entry.name)
            if entry.name.endswith(".tmp") or (match and int(match.group(1)) >= keep):
                with contextlib.suppress(OSError):
                    entry.unlink()

    def write_batch(self, number: int, arrays: Mapping[str, np.ndarray]) -> None:
        """Store batch ``number`` atomically (creating the folder and its config on first use)."""
        if not self.exists():
            self.dir.mkdir(parents=True, exist_ok=True)
            write_text_atomic(self.dir / CONFIG_NAME, json.dumps(self.config, indent=2) + "\n")
        with atomic_path(self._batch_path(number)) as temp, open(temp, "wb") as handle:
            np.savez(handle, **arrays)

    def batches(self, count: int) -> Iterator[dict[str, np.ndarray]]:
        """Load batches 0..count-1 in order."""
        for number in range(count):
            with np.load(self._batch_path(number)) as data:
                yield {key: data[key] for key in data.files}

    def finish(
        self, count: int, assemble: Callable[[Iterator[dict[str, np.ndarray]]], None]
    ) -> None:
        """Build the output from the ``count`` batches with ``assemble``, then remove the folder."""
        assemble(self.batches(count))
        self.discard()
