"""Explorer panel: cluster list (clusters with colour, size and prototype; a click selects one)."""

from relscope.core.viewer_panel import Panel

register_viewer_panels = Panel.for_package(
    __name__,
    region="right",
    order=20,
    description="Cluster list: clusters with colour, size and prototype; a click selects one",
)
