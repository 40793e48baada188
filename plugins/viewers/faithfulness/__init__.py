"""Explorer panel: faithfulness — the project's perturbation curves (MoRF/LeRF with bands, from
the evaluation file its YAML names) and the selected samples' mean curve against the data set's.

The panel and its routes (Starlette) live in :mod:`relscope.plugins.viewers.faithfulness.routes`,
imported when the explorer fetches the panel.
"""

from __future__ import annotations

from typing import Any

from relscope.core import hookimpl, lazy
from relscope.core.lazy_reference import implementation_attribute

IMPLEMENTATION = "relscope.plugins.viewers.faithfulness.routes"


@hookimpl
def register_viewer_panels(register: Any) -> None:
    """Contribute the faithfulness panel."""
    register(
        "faithfulness",
        lazy(f"{IMPLEMENTATION}:PANEL"),
        description="Faithfulness: perturbation curves of the project and of the selection",
    )


def __getattr__(name: str) -> Any:
    """Names of the routes module, imported on first use."""
    return implementation_attribute(IMPLEMENTATION, name)
