"""Explorer panel: project tabs (one tab per served project)."""

from __future__ import annotations

import importlib.resources
from typing import Any

from relscope.core import hookimpl
from relscope.core.viewer_panel import Panel

PANEL = Panel(
    name="project_tabs",
    region="header",
    static=importlib.resources.files(__name__) / "static",
    js=["project_tabs.js"],
    css=["project_tabs.css"],
    description="Project tabs: one tab per served project",
    order=10,
)


@hookimpl
def register_viewer_panels(register: Any) -> None:
    """Contribute the project tabs panel."""
    register(PANEL)
