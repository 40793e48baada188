"""Explorer panel: sample strip (the selected samples in the chosen mode, page by page)."""

from __future__ import annotations

import importlib.resources
from typing import Any

from relscope.core import hookimpl
from relscope.core.viewer_panel import Panel

PANEL = Panel(
    name="sample_strip",
    region="bottom",
    static=importlib.resources.files(__name__) / "static",
    js=["sample_strip.js"],
    css=["sample_strip.css"],
    description="Sample strip: the selected samples in the chosen mode, page by page",
    order=10,
)


@hookimpl
def register_viewer_panels(register: Any) -> None:
    """Contribute the sample strip panel."""
    register(PANEL)
