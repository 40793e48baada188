"""Explorer panel: score plot (eigenvalue bar plot of the category, whatever view is shown)."""

from __future__ import annotations

import importlib.resources
from typing import Any

from relscope.core import hookimpl
from relscope.core.viewer_panel import Panel

PANEL = Panel(
    name="score_plot",
    region="right",
    static=importlib.resources.files(__name__) / "static",
    js=["score_plot.js"],
    css=["score_plot.css"],
    description="Score plot: eigenvalue bar plot of the category (in every 2-D view)",
    order=10,
)


@hookimpl
def register_viewer_panels(register: Any) -> None:
    """Contribute the score plot panel."""
    register(PANEL)
