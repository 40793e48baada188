"""The explorer's single HTML page: empty page regions, style sheets, and the shell module."""

from __future__ import annotations

import html
from collections.abc import Sequence

from relscope.core.registry import RegistryEntry
from relscope.core.viewer_panel import REGIONS

SHELL_PREFIX = "/static/explorer"
_TAGS = {
    "header": "header",
    "left": "aside",
    "center": "main",
    "right": "aside",
    "bottom": "footer",
}


def render_page(panels: Sequence[RegistryEntry], title: str = "relscope explorer") -> str:
    """The HTML page; the shell module fetches ``/api/panels`` and mounts each panel's modules."""
    links = [f'<link rel="stylesheet" href="{SHELL_PREFIX}/shell.css">']
    for entry in panels:
        for url in entry.obj.asset_urls()["css"]:
            links.append(f'<link rel="stylesheet" href="{html.escape(url)}">')
    regions = [
        f'<{_TAGS[name]} class="region region-{name}" data-region="{name}"></{_TAGS[name]}>'
        for name in REGIONS
    ]
    head = "\n".join(links)
    body = "\n".join(regions)
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
<title>{html.escape(title)}</title>
<link rel="icon" href="data:,">
{head}
</head>
<body>
{body}
<div id="messages" aria-live="polite"></div>
<noscript>The relscope explorer needs JavaScript.</noscript>
<script type="module" src="{SHELL_PREFIX}/shell.js"></script>
</body>
</html>
"""
