"""ASGI middleware telling the block cache's read-ahead when requests are in flight.

The read-ahead of small files (``relscope.core.data.read_ahead``) decodes in the background from
the moment the explorer starts, but only while no request is being answered, so it never competes
with a person's clicks for the two things they need: a core and the GIL.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from relscope.core.data.read_ahead import ReadAhead


class RequestActivity:
    """Counts every HTTP request as in flight on each of ``read_aheads`` from start to end."""

    def __init__(self, app: Any, read_aheads: Sequence[ReadAhead]) -> None:
        self.app = app
        self.read_aheads = list(read_aheads)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or not self.read_aheads:
            await self.app(scope, receive, send)
            return
        for read_ahead in self.read_aheads:
            read_ahead.request_started()
        try:
            await self.app(scope, receive, send)
        finally:
            for read_ahead in self.read_aheads:
                read_ahead.request_finished()
