"""Explorer panel: colour map (colour map select with a gradient preview)."""

from relscope.core.viewer_panel import Panel

register_viewer_panels = Panel.for_package(
    __name__,
    region="left",
    order=20,
    description="Colour map: colour map select with a gradient preview",
)
