"""Composite canonizers: apply several canonizers in order and remove them in reverse order."""

from __future__ import annotations

import copy
from collections.abc import Iterable

from torch import nn

from relscope.core.attribution.canonizer import Canonizer


class CompositeCanonizer(Canonizer):
    """Several canonizers applied as one: registered in order, removed in reverse order.

    If one of them fails to register, those already registered are removed again before the
    error propagates, so the model is never left half rewritten.
    """

    name = "composite"

    def __init__(self, canonizers: Iterable[Canonizer]) -> None:
        super().__init__()
        self.canonizers = list(canonizers)
        for canonizer in self.canonizers:
            if not isinstance(canonizer, Canonizer):
                raise TypeError(
                    f"CompositeCanonizer takes canonizers, not {type(canonizer).__name__}"
                )

    def register(self, model: nn.Module) -> None:
        """Register every canonizer in order."""
        try:
            for canonizer in self.canonizers:
                canonizer.register(model)
                self.add_undo(canonizer.remove)
        except BaseException:
            self.remove()
            raise

    def copy(self) -> CompositeCanonizer:
        """A fresh composite of fresh copies of the parts."""
        clone = copy.copy(self)
        clone._undo = []
        clone.canonizers = [canonizer.copy() for canonizer in self.canonizers]
        return clone

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.canonizers!r})"
