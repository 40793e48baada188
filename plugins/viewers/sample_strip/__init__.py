"""Explorer panel: sample strip (the selected samples in the chosen mode, page by page)."""

from relscope.core.viewer_panel import Panel

register_viewer_panels = Panel.for_package(
    __name__,
    region="bottom",
    order=10,
    description="Sample strip: the selected samples in the chosen mode, page by page",
)
