"""Explorer panel: cluster list (clusters with colour, size and prototype; a click selects one)."""

from __future__ import annotations

import importlib.resources
from typing import Any

from relscope.core import hookimpl
from relscope.core.viewer_panel import Panel

PANEL = Panel(
    name="cluster_list",
    region="right",
    static=importlib.resources.files(__name__) / "static",
    js=["cluster_list.js"],
    css=["cluster_list.css"],
    description="Cluster list: clusters with colour, size and prototype; a click selects one",
    order=20,
)


@hookimpl
def register_viewer_panels(register: Any) -> None:
    """Contribute the cluster list panel."""
    register(PANEL)
