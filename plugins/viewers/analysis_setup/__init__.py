"""Explorer panel: analysis method, category, clustering, embedding and dimensions."""

from __future__ import annotations

import importlib.resources
from typing import Any

from relscope.core import hookimpl
from relscope.core.viewer_panel import Panel

PANEL = Panel(
    name="analysis_setup",
    region="left",
    static=importlib.resources.files(__name__) / "static",
    js=["analysis_setup.js"],
    css=["analysis_setup.css"],
    description="Analysis setup: method, category, clustering, embedding and plotted dimensions",
    order=10,
)


@hookimpl
def register_viewer_panels(register: Any) -> None:
    """Contribute the analysis setup panel."""
    register(PANEL)
