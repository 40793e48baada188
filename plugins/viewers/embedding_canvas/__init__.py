"""Explorer panel: WebGL scatter plot of the embedding: zoom, pan, rectangle and lasso selection."""

from __future__ import annotations

import importlib.resources
from typing import Any

from relscope.core import hookimpl
from relscope.core.viewer_panel import Panel

PANEL = Panel(
    name="embedding_canvas",
    region="center",
    static=importlib.resources.files(__name__) / "static",
    js=["embedding_canvas.js"],
    css=["embedding_canvas.css"],
    description="Embedding canvas: WebGL scatter plot; zoom, pan, rectangle and lasso select",
    order=10,
)


@hookimpl
def register_viewer_panels(register: Any) -> None:
    """Contribute the embedding canvas panel."""
    register(PANEL)
