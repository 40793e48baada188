"""Explorer panel: export/import the selection state as JSON or share it as a URL."""

from __future__ import annotations

import importlib.resources
from typing import Any

from relscope.core import hookimpl
from relscope.core.viewer_panel import Panel

PANEL = Panel(
    name="state_share",
    region="header",
    static=importlib.resources.files(__name__) / "static",
    js=["state_share.js"],
    css=["state_share.css"],
    description="Import, export and share: the whole state as JSON or as a URL",
    order=90,
)


@hookimpl
def register_viewer_panels(register: Any) -> None:
    """Contribute the import, export and share panel."""
    register(PANEL)
