"""``relscope serve PROJECT.yaml [...]``: open the projects and run the explorer with uvicorn."""

from __future__ import annotations

import argparse
import re
import secrets
import socket
import sys
from typing import Any

from relscope.core.errors import ExplorerError
from relscope.plugins.viewers.explorer.access_guard import needs_token

_TOKEN = re.compile(r"^[A-Za-z0-9._~-]{16,256}$")


def add_parser(subparsers: Any) -> None:
    """Declare ``relscope serve``."""
    parser = subparsers.add_parser(
        "serve",
        help="explore projects in the browser",
        description="Serve the explorer for one or more project files (YAML).",
    )
    parser.add_argument("projects", nargs="+", metavar="PROJECT.yaml", help="project files")
    parser.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to bind (default 127.0.0.1; any other address requires an access token)",
    )
    parser.add_argument(
        "--port", type=int, default=8080, help="port to bind (default 8080, 0 picks a free one)"
    )
    parser.add_argument(
        "--token",
        default=None,
        help="access token required on every request (generated when serving beyond loopback)",
    )
    parser.set_defaults(func=run)


def _bind(host: str, port: int) -> socket.socket:
    """A listening socket on ``host:port`` (so port 0 resolves before the URL is printed)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise ExplorerError(f"--host {host!r}: cannot resolve ({exc})") from None
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
    except OSError as exc:
        sock.close()
        raise ExplorerError(f"cannot listen on {host}:{port} ({exc.strerror})") from None
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def run(args: argparse.Namespace, pm: Any) -> int:
    """Load the projects, build the app and serve it until interrupted."""
    import uvicorn

    from relscope.plugins.viewers.explorer.app import build_app
    from relscope.plugins.viewers.explorer.served_project import load_projects

    if not 0 <= args.port <= 65535:
        raise ExplorerError(f"--port must lie in 0..65535, got {args.port}")
    token = args.token
    if token is not None and not _TOKEN.match(token):
        raise ExplorerError(
            "--token must be 16 to 256 characters of letters, digits, '.', '_', '~' or '-'"
        )
    if token is None and needs_token(args.host):
        token = secrets.token_urlsafe(24)
    projects = load_projects(args.projects)
    app = build_app(projects, token=token, host=args.host, pm=pm)
    sock = _bind(args.host, args.port)
    port = sock.getsockname()[1]
    shown = f"[{args.host}]" if ":" in args.host else args.host
    url = f"http://{shown}:{port}/"
    print(f"relscope: serving {len(projects)} project(s) at {url}", flush=True)
    if token is not None:
        print(f"relscope: access token: {token}", flush=True)
        print(f"relscope: open {url}?token={token}", flush=True)
    print("relscope: press Ctrl+C to stop", file=sys.stderr, flush=True)
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on")
    server = uvicorn.Server(config)
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()
    return 0
