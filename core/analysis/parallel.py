"""``Parallel``: fan one input (``broadcast``) or one input per child out to several processors."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import attrs

from relscope.core.analysis.lookup import as_processor
from relscope.core.analysis.params import Param, at_least
from relscope.core.analysis.processor import Context, Processor, processor
from relscope.core.errors import ProcessorError


def _children(specs: Any) -> dict[str, Processor] | tuple[Processor, ...]:
    if isinstance(specs, Mapping):
        children: Any = {str(name): as_processor(spec) for name, spec in specs.items()}
    elif isinstance(specs, (str, Processor)) or not isinstance(specs, Sequence):
        raise ProcessorError(f"Parallel: expected a dict or sequence of processors, got {specs!r}")
    else:
        children = tuple(as_processor(spec) for spec in specs)
    if not children:
        raise ProcessorError("Parallel: needs at least one processor")
    return children


@processor
class Parallel(Processor):
    """Run several processors side by side; returns a dict (named children) or a tuple.

    With ``broadcast`` every child gets the whole input, else the input is a sequence (or dict)
    with one item per child. ``n_jobs > 1`` runs children in that many threads.
    """

    children: dict[str, Processor] | tuple[Processor, ...] = attrs.field(converter=_children)
    broadcast: bool = Param(bool, False, identifying=False)
    n_jobs: int = Param(int, 1, identifying=False, check=at_least(1))

    def _names(self) -> list[str]:
        if isinstance(self.children, dict):
            return list(self.children)
        return [f"{i}:{type(c).__name__}" for i, c in enumerate(self.children)]

    def _inputs(self, data: Any, digest: str | None) -> list[tuple[Any, str | None]]:
        count = len(self.children)
        if self.broadcast:
            return [(data, digest)] * count
        if isinstance(self.children, dict) and isinstance(data, Mapping):
            missing = [name for name in self.children if name not in data]
            if missing:
                raise ProcessorError(f"Parallel: input has no item for children {missing}")
            return [(data[name], None) for name in self.children]
        if not isinstance(data, (Sequence, Mapping)) or len(data) != count:
            raise ProcessorError(
                f"Parallel: without broadcast the input must hold one item per child ({count}), "
                f"got {type(data).__name__}"
            )
        items = list(data.values()) if isinstance(data, Mapping) else list(data)
        return [(item, None) for item in items]

    def function(self, data: Any) -> Any:
        """Uncached run (``evaluate`` is what callers use)."""
        return self.evaluate(data, Context())[0]

    def evaluate(
        self, data: Any, context: Context, digest: str | None = None
    ) -> tuple[Any, str | None]:
        """Run every child on its input, in threads when ``n_jobs > 1``."""
        children = list(
            self.children.values() if isinstance(self.children, dict) else self.children
        )
        jobs = [
            (child, item, context.child(name, self.io), item_digest)
            for child, name, (item, item_digest) in zip(
                children, self._names(), self._inputs(data, digest), strict=True
            )
        ]
        if self.n_jobs > 1 and len(jobs) > 1:
            with ThreadPoolExecutor(max_workers=min(self.n_jobs, len(jobs))) as pool:
                futures = [pool.submit(c.evaluate, d, ctx, dg) for c, d, ctx, dg in jobs]
                results = [f.result()[0] for f in futures]
        else:
            results = [c.evaluate(d, ctx, dg)[0] for c, d, ctx, dg in jobs]
        if isinstance(self.children, dict):
            return dict(zip(self.children, results, strict=True)), None
        return tuple(results), None
