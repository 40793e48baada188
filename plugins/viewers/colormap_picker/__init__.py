"""Explorer panel: colour map (colour map select with a gradient preview)."""

from __future__ import annotations

import importlib.resources
from typing import Any

from relscope.core import hookimpl
from relscope.core.viewer_panel import Panel

PANEL = Panel(
    name="colormap_picker",
    region="left",
    static=importlib.resources.files(__name__) / "static",
    js=["colormap_picker.js"],
    css=["colormap_picker.css"],
    description="Colour map: colour map select with a gradient preview",
    order=20,
)


@hookimpl
def register_viewer_panels(register: Any) -> None:
    """Contribute the colour map panel."""
    register(PANEL)
