"""Explorer panel: score plot (eigenvalue bar plot of the current embedding)."""

from relscope.core.viewer_panel import Panel

register_viewer_panels = Panel.for_package(
    __name__,
    region="right",
    order=10,
    description="Score plot: eigenvalue bar plot of the current embedding",
)
