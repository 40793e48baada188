"""Explorer panel: project tabs (one tab per served project)."""

from relscope.core.viewer_panel import Panel

register_viewer_panels = Panel.for_package(
    __name__,
    region="header",
    order=10,
    description="Project tabs: one tab per served project",
)
