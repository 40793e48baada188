"""Explorer panel: export/import the selection state as JSON or share it as a URL."""

from relscope.core.viewer_panel import Panel

register_viewer_panels = Panel.for_package(
    __name__,
    region="header",
    order=90,
    description="Import, export and share: the whole state as JSON or as a URL",
)
