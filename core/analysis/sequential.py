"""``Sequential``: a chain of processors, each fed the previous one's output."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import attrs

from relscope.core.analysis.lookup import as_processor
from relscope.core.analysis.processor import Context, Processor, processor
from relscope.core.errors import ProcessorError


def _children(specs: Iterable[Any]) -> tuple[Processor, ...]:
    if isinstance(specs, (str, Processor)):
        raise ProcessorError(f"Sequential: expected a sequence of processors, got {specs!r}")
    children = tuple(as_processor(spec) for spec in specs)
    if not children:
        raise ProcessorError("Sequential: needs at least one processor")
    return children


@processor
class Sequential(Processor):
    """Run ``children`` one after the other; each step is cached on its own."""

    children: tuple[Processor, ...] = attrs.field(converter=_children)

    def function(self, data: Any) -> Any:
        """Uncached run of the chain (``evaluate`` is what callers use)."""
        for child in self.children:
            data = child(data)
        return data

    def evaluate(
        self, data: Any, context: Context, digest: str | None = None
    ) -> tuple[Any, str | None]:
        """Feed each child the previous output, passing the cache and known digests along."""
        for position, child in enumerate(self.children):
            name = f"{position}:{type(child).__name__}"
            data, digest = child.evaluate(data, context.child(name, self.io), digest)
        return data, digest
