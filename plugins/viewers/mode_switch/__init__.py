"""Explorer panel: mode (input, attribution or overlay images; pixelated or smooth sampling)."""

from __future__ import annotations

import importlib.resources
from typing import Any

from relscope.core import hookimpl
from relscope.core.viewer_panel import Panel

PANEL = Panel(
    name="mode_switch",
    region="left",
    static=importlib.resources.files(__name__) / "static",
    js=["mode_switch.js"],
    css=["mode_switch.css"],
    description="Mode: input, attribution or overlay images; pixelated or smooth sampling",
    order=30,
)


@hookimpl
def register_viewer_panels(register: Any) -> None:
    """Contribute the mode panel."""
    register(PANEL)
