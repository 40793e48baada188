"""Explorer panel: WebGL scatter plot of the embedding: zoom, pan, rectangle and lasso selection."""

from relscope.core.viewer_panel import Panel

register_viewer_panels = Panel.for_package(
    __name__,
    region="center",
    order=10,
    description="Embedding canvas: WebGL scatter plot; zoom, pan, rectangle and lasso select",
)
