"""What ``relscope analyze`` shows while it runs: one progress bar (categories done / total, the
current step), one summary line per category, and per-step timings only when asked."""

from __future__ import annotations

import sys
from typing import Any, TextIO

from relscope.core.analysis.processor import StepEvent
from relscope.core.data.analysis import CategoryAnalysis


class AnalyzeProgress:
    """Progress of one analysis run over ``total`` categories, written to ``stream``."""

    def __init__(
        self,
        total: int,
        *,
        verbose: bool = False,
        quiet: bool = False,
        stream: TextIO | None = None,
    ) -> None:
        from tqdm import tqdm

        self.verbose = verbose
        self.quiet = quiet
        self.stream = stream or sys.stderr
        self.prefix = ""
        self.bar: Any = None
        if not quiet:  # disable=None: no bar when the stream is no terminal (logs, pipes)
            self.bar = tqdm(
                total=total,
                desc="analyze",
                unit="category",
                file=self.stream,
                leave=False,
                disable=None,
            )

    def start_category(self, prefix: str) -> None:
        """Begin the category shown as ``prefix`` (e.g. ``[3/10] 00000007 (7)``)."""
        self.prefix = prefix
        if self.bar is not None:
            self.bar.set_postfix_str(prefix, refresh=True)

    def step(self, event: StepEvent) -> None:
        """A pipeline step started, finished or came from the cache."""
        step = "/".join(event.path) or event.processor
        if self.bar is not None and event.status == "start":
            self.bar.set_postfix_str(f"{self.prefix}: {step}", refresh=True)
        if self.verbose and event.status != "start":
            note = "cached" if event.status == "cached" else f"{event.seconds:.2f} s"
            self.write(f"relscope: {self.prefix} {step}: {note}")

    def done_category(self, part: CategoryAnalysis, seconds: float) -> None:
        """The category's one-line summary; the bar advances."""
        best = part.best_clustering
        score = "no clustering scored" if best is None else f"best {best[0]} {best[1]:.3g}"
        self.write(f"relscope: {self.prefix}: {len(part)} points, {score}, {seconds:.1f} s")
        if self.bar is not None:
            self.bar.update(1)

    def write(self, line: str) -> None:
        """Print ``line`` above the bar (nothing when quiet)."""
        if self.quiet:
            return
        if self.bar is not None and not self.bar.disable:
            self.bar.write(line, file=self.stream)
        else:
            print(line, file=self.stream, flush=True)

    def close(self) -> None:
        """Remove the bar."""
        if self.bar is not None:
            self.bar.close()
            self.bar = None
