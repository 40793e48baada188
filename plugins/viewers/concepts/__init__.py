"""Explorer panel: concepts — the most relevant concepts (channels) of a layer for the selected
samples as signed bars, a concept's reference samples (RelMax / ActMax) with their conditional
heatmaps, and, on a click, the embedding coloured and the sample strip sorted by its relevance."""

from __future__ import annotations

import importlib.resources
from typing import Any

from relscope.core import hookimpl
from relscope.core.viewer_panel import Panel
from relscope.plugins.viewers.concepts.concept_routes import ROUTES

PANEL = Panel(
    name="concepts",
    region="right",
    routes=ROUTES,
    static=importlib.resources.files(__name__) / "static",
    js=["concepts.js"],
    css=["concepts.css"],
    description="Concepts: a layer's most relevant channels for the selection, their reference "
    "samples and conditional heatmaps (from concepts.h5)",
    order=25,
)


@hookimpl
def register_viewer_panels(register: Any) -> None:
    """Contribute the concept panel."""
    register(PANEL)
