"""Attribute canonizers: temporarily override attributes (``forward``, new submodules) of modules."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from torch import nn

from relscope.core.attribution.canonizer import Canonizer

#: (qualified name, module) -> the attributes to set on that module instance, or None to skip it
AttributeMap = Callable[[str, nn.Module], Mapping[str, Any] | None]


class AttributeCanonizer(Canonizer):
    """Override attributes of selected module instances while registered; restore them exactly.

    ``attribute_map(name, module)`` is asked for every module of the model (root included, in
    definition order) and returns the attributes to set on that instance, e.g.
    ``{"forward": types.MethodType(new_forward, module), "residual_sum": Sum()}``; functions are
    set as given, so bind methods yourself. Subclasses may override :meth:`attribute_map` instead.
    """

    name = "attribute"

    def __init__(self, attribute_map: AttributeMap | None = None) -> None:
        super().__init__()
        if attribute_map is not None:
            self.attribute_map = attribute_map  # type: ignore[method-assign]

    def attribute_map(self, name: str, module: nn.Module) -> Mapping[str, Any] | None:
        """The attributes to set on ``module`` (called ``name`` in the model), or None."""
        return None

    def register(self, model: nn.Module) -> None:
        """Set the mapped attributes on every module the map selects; undo all on failure."""
        try:
            for name, module in list(model.named_modules()):
                overrides = self.attribute_map(name, module)
                for key, value in (overrides or {}).items():
                    self.set_attribute(module, key, value)
        except BaseException:
            self.remove()
            raise
