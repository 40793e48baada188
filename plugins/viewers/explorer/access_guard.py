"""Who may talk to the explorer: an access token on every request when serving beyond loopback,
and a Host-header check on loopback (so a web page cannot reach it through DNS rebinding).

The token is accepted as ``Authorization: Bearer <token>``, as ``?token=<token>`` (the printed
URL; answered with an HttpOnly cookie so the page's own requests carry it), or as that cookie. The
cookie is named after the server's port, so two explorers on one host keep their own, and only
our cookie is read from the ``Cookie`` header (other apps' cookies may be in any format).
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import parse_qs

COOKIE = "relscope_token"
#: what a token may hold: URL- and header-safe characters only (checked with ``fullmatch``)
TOKEN_PATTERN = re.compile(r"[A-Za-z0-9._~-]{16,256}")
#: a Host header: a name or IPv4 address, or a bracketed IPv6 address, and an optional port
_HOST = re.compile(r"(?P<name>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+)(?::(?P<port>[0-9]{1,5}))?")
#: addresses that need no token: the loopback names a default ``relscope serve`` binds to
DEFAULT_LOOPBACK = ("127.0.0.1", "localhost", "::1")

Scope = dict[str, Any]


def needs_token(host: str) -> bool:
    """True unless ``host`` is one of the default loopback addresses."""
    return host.strip("[]") not in DEFAULT_LOOPBACK


def loopback_host_names(host: str) -> set[str]:
    """Host-header names that reach a loopback server: its own address and the loopback names."""
    names = {"127.0.0.1", "localhost", "[::1]", "::1"}
    bare = host.strip("[]").lower()
    try:
        if ipaddress.ip_address(bare).version == 6:
            names.add(f"[{bare}]")
        else:
            names.add(bare)
    except ValueError:
        names.add(bare)
    return names


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            return value.decode("latin-1")
    return None


def cookie_name(port: int | None) -> str:
    """The token cookie of the server on ``port`` (cookies are shared by every port of a host)."""
    return COOKIE if port is None else f"{COOKIE}_{port}"


def cookie_value(header: str, name: str) -> str | None:
    """The value of cookie ``name`` in a ``Cookie`` header, ignoring every other cookie's syntax."""
    for part in header.split(";"):
        key, sep, value = part.partition("=")
        if sep and key.strip() == name:
            return value.strip().strip('"')
    return None


def host_name(host_header: str) -> str | None:
    """The name part of a whole, well-formed Host header (None when it is malformed)."""
    match = _HOST.fullmatch(host_header.strip())
    if match is None:
        return None
    return match.group("name").lower()


def _server_port(scope: Scope) -> int | None:
    server = scope.get("server")
    return int(server[1]) if server and server[1] is not None else None


async def _refuse(send: Any, status: int, message: str) -> None:
    body = json.dumps({"error": message}).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
    ]
    if status == 401:
        headers.append((b"www-authenticate", b'Bearer realm="relscope"'))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class AccessGuard:
    """ASGI middleware: token check (when ``token``) or Host check (when ``allowed_hosts``)."""

    def __init__(
        self, app: Any, token: str | None = None, allowed_hosts: Iterable[str] | None = None
    ) -> None:
        self.app = app
        self.token = token
        self.allowed_hosts = None if allowed_hosts is None else set(allowed_hosts)

    def _presented(self, scope: Scope) -> tuple[str | None, bool]:
        """The token the request carries and whether it came in the query string."""
        auth = _header(scope, b"authorization")
        if auth and auth.lower().startswith("bearer "):
            return auth[7:].strip(), False
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        if "token" in query:
            return query["token"][0], True
        cookie = _header(scope, b"cookie")
        if cookie:
            return cookie_value(cookie, cookie_name(_server_port(scope))), False
        return None, False

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        if self.allowed_hosts is not None:
            host = host_name(_header(scope, b"host") or "")
            if host is None or host not in self.allowed_hosts:
                await _refuse(
                    send, 403, "this Host header is not allowed; use 127.0.0.1 or localhost"
                )
                return
        if self.token is None:
            await self.app(scope, receive, send)
            return
        presented, from_query = self._presented(scope)
        if presented is None or not hmac.compare_digest(presented.encode(), self.token.encode()):
            await _refuse(send, 401, "missing or wrong access token (use the URL printed at start)")
            return
        if not from_query:
            await self.app(scope, receive, send)
            return

        async def send_with_cookie(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                name = cookie_name(_server_port(scope))
                cookie = f"{name}={self.token}; Path=/; HttpOnly; SameSite=Strict"
                headers = list(message.get("headers", [])) + [(b"set-cookie", cookie.encode())]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_cookie)
