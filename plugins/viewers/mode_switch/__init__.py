"""Explorer panel: mode (input, attribution or overlay images; pixelated or smooth sampling)."""

from relscope.core.viewer_panel import Panel

register_viewer_panels = Panel.for_package(
    __name__,
    region="left",
    order=30,
    description="Mode: input, attribution or overlay images; pixelated or smooth sampling",
)
