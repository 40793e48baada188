"""Explorer panel: analysis method, category, clustering, embedding and dimensions."""

from relscope.core.viewer_panel import Panel

register_viewer_panels = Panel.for_package(
    __name__,
    region="left",
    order=10,
    description="Analysis setup: method, category, clustering, embedding and plotted dimensions",
)
