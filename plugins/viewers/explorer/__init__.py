"""The relscope explorer: ``relscope serve``, a Starlette app whose panels are plugins."""

from __future__ import annotations

from typing import Any

from relscope.core import hookimpl


@hookimpl
def register_commands(subparsers: Any) -> None:
    """Add ``relscope serve``."""
    from relscope.plugins.viewers.explorer.serve_command import add_parser

    add_parser(subparsers)
