"""Explorer panel: ranking plot (each category's best separability as a bar; a click opens it)."""

from __future__ import annotations

import importlib.resources
from typing import Any

from relscope.core import hookimpl
from relscope.core.viewer_panel import Panel

PANEL = Panel(
    name="ranking_plot",
    region="right",
    static=importlib.resources.files(__name__) / "static",
    js=["ranking_plot.js"],
    css=["ranking_plot.css"],
    description="Ranking plot: categories ordered by the separability of their best clustering",
    order=15,
)


@hookimpl
def register_viewer_panels(register: Any) -> None:
    """Contribute the ranking plot panel."""
    register(PANEL)
