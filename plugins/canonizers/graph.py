"""Graph canonizer: turn functional operations in ``forward`` methods into modules (torch.fx).

Rules attach to modules, so an addition written ``x + y`` or a ``F.relu`` call in a forward method
is invisible to them: the addition would copy the relevance to both summands (doubling it) and a
functional average pooling would keep its gradient instead of the ``norm`` rule. This canonizer
traces each user-written module's own forward (its submodules stay single calls), replaces

- tensor additions (``x + y``, ``x += y``, ``torch.add``) by an explicit ``Sum`` of the broadcast
  summands, given one by one (composites give it the ``norm`` rule),
- ``torch.cat`` by a :class:`Concatenate` module,
- functional activations (``F.relu``, ``torch.sigmoid``, ``x.relu()``, ...) by their modules,
- ``torch.flatten`` / ``x.flatten`` by ``nn.Flatten``,
- functional pooling (``F.avg_pool2d``, ``F.adaptive_avg_pool2d``, max pooling) by the modules,

and installs the rewritten forward on that module instance until :meth:`remove`. Additions whose
operands turn out not to be floating-point tensors at run time (shape arithmetic) stay plain ``+``.
As in any fx trace, Python branching on argument types or flags is fixed when the canonizer is
registered (so register it on the model in the mode you attribute it in, usually eval).

This module is the light entry point: it registers by import path, and the implementation
in :mod:`relscope.plugins.canonizers.graph_canonizer` is imported when an object is first fetched.
"""

from __future__ import annotations

from typing import Any

from relscope.core import Parameter, hookimpl, lazy
from relscope.core.lazy_reference import implementation_attribute

IMPLEMENTATION = "relscope.plugins.canonizers.graph_canonizer"


@hookimpl
def register_canonizers(register: Any) -> None:
    """Register the torch.fx graph canonizer."""
    register(
        "graph",
        lazy(
            f"{IMPLEMENTATION}:GraphCanonizer",
            Parameter("convert", "Sequence[str] | None"),
            Parameter("skip", "tuple[type[nn.Module], ...]", ()),
        ),
        description="Make functional operations in ``forward`` methods explicit modules so rules attach to them.",
    )


def __getattr__(name: str) -> Any:
    """Names of the implementation module, imported on first use."""
    return implementation_attribute(IMPLEMENTATION, name)
