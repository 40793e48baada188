"""Explorer panel: score plot (eigenvalue bar plot of the category, whatever view is shown)."""

from relscope.core.viewer_panel import Panel

register_viewer_panels = Panel.for_package(
    __name__,
    region="right",
    order=10,
    description="Score plot: eigenvalue bar plot of the category (in every 2-D view)",
)
