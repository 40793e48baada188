"""How long and how much a client may take before the explorer answers or hangs up.

uvicorn bounds an idle keep-alive connection and the size of a request head, but not the time a
client takes to send one: a client trickling partial headers holds a connection open for ever.
:class:`HeaderDeadlineProtocol` closes a connection whose next request head is not complete within
``HEADER_TIMEOUT`` seconds of the connection opening or of the previous response.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol

#: seconds a client has to send a complete request head
HEADER_TIMEOUT = 10.0
#: seconds an idle keep-alive connection stays open
KEEP_ALIVE_TIMEOUT = 5
#: the largest request head (request line and headers) accepted, in bytes
MAX_HEAD_BYTES = 16 * 1024


class HeaderDeadlineProtocol(H11Protocol):
    """uvicorn's h11 protocol with a deadline for every request head."""

    header_timeout = HEADER_TIMEOUT

    def _arm_head_deadline(self) -> None:
        self._cancel_head_deadline()
        waiting_for = self.cycle  # a new request replaces the cycle; then the deadline is met

        def expired() -> None:
            self._head_deadline = None
            if self.cycle is waiting_for and not self.transport.is_closing():
                self.transport.close()

        self._head_deadline: asyncio.TimerHandle | None = self.loop.call_later(
            self.header_timeout, expired
        )

    def _cancel_head_deadline(self) -> None:
        handle = getattr(self, "_head_deadline", None)
        if handle is not None:
            handle.cancel()
            self._head_deadline = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        """Accept the connection and start the clock for its first request head."""
        super().connection_made(transport)
        self._arm_head_deadline()

    def on_response_complete(self) -> None:
        """Start the clock for the next request head (before pipelined requests are handled)."""
        self._arm_head_deadline()
        super().on_response_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        """Stop the clock and let uvicorn clean up."""
        self._cancel_head_deadline()
        super().connection_lost(exc)


def server_config(app: Any) -> Any:
    """The uvicorn configuration of the explorer: h11 with the head deadline and bounded sizes."""
    import uvicorn

    return uvicorn.Config(
        app,
        http=HeaderDeadlineProtocol,
        log_level="warning",
        access_log=False,
        lifespan="on",
        timeout_keep_alive=KEEP_ALIVE_TIMEOUT,
        h11_max_incomplete_event_size=MAX_HEAD_BYTES,
        server_header=False,
    )
