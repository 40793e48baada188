"""``relscope serve PROJECT.yaml [...]``: open the projects and run the explorer with uvicorn.

The command checks everything first (token, port, project files), then, when this process has
imported torch (the CLI loads every plugin), replaces itself by a fresh interpreter that loads only
the plugins able to contribute panels or colour maps, so the running explorer holds no torch.
"""

from __future__ import annotations

import argparse
import os
import secrets
import socket
import sys
from pathlib import Path
from typing import Any

from relscope.core.errors import ExplorerError
from relscope.plugins.viewers.explorer.access_guard import TOKEN_PATTERN, needs_token

#: environment variable holding the access token (kept out of ``ps``, unlike ``--token``)
TOKEN_ENV = "RELSCOPE_TOKEN"
#: the module a fresh explorer process runs
PROCESS_MODULE = "relscope.plugins.viewers.explorer.explorer_process"


def add_parser(subparsers: Any) -> None:
    """Declare ``relscope serve``."""
    parser = subparsers.add_parser(
        "serve",
        help="explore projects in the browser",
        description="Serve the explorer for one or more project files (YAML).",
    )
    add_arguments(parser)
    parser.set_defaults(func=run)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``relscope serve`` (shared with the fresh explorer process)."""
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
        help="access token required on every request (generated when serving beyond loopback; "
        f"visible to other users in ps: prefer --token-file or {TOKEN_ENV})",
    )
    parser.add_argument(
        "--token-file",
        type=Path,
        default=None,
        help="read the access token from this file (its first line)",
    )


def resolve_token(args: argparse.Namespace) -> str | None:
    """The token of ``--token``, ``--token-file`` or ``$RELSCOPE_TOKEN`` (first given wins),
    validated whole; a fresh one when serving beyond loopback without any."""
    if args.token is not None and args.token_file is not None:
        raise ExplorerError("give --token or --token-file, not both")
    token, where = args.token, "--token"
    if args.token_file is not None:
        where = f"--token-file {args.token_file}"
        try:
            lines = args.token_file.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            raise ExplorerError(f"{where}: cannot be read ({type(exc).__name__})") from None
        token = lines[0].strip() if lines else ""
    elif token is None and os.environ.get(TOKEN_ENV):
        token, where = os.environ[TOKEN_ENV], f"${TOKEN_ENV}"
    if token is not None and not TOKEN_PATTERN.fullmatch(token):
        raise ExplorerError(
            f"{where}: the token must be 16 to 256 characters of letters, digits, '.', '_', '~' "
            "or '-' (nothing else, no line break)"
        )
    if token is None and needs_token(args.host):
        token = secrets.token_urlsafe(24)
    return token


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
    return sock


def _check(args: argparse.Namespace) -> str | None:
    """Validate the port and token; returns the token."""
    if not 0 <= args.port <= 65535:
        raise ExplorerError(f"--port must lie in 0..65535, got {args.port}")
    return resolve_token(args)


def run(args: argparse.Namespace, pm: Any) -> int:
    """Check the options and projects, then serve (from a fresh, torch-free process on POSIX)."""
    from relscope.plugins.viewers.explorer.served_project import load_projects

    token = _check(args)
    if "torch" not in sys.modules or os.name != "posix":
        return serve(args, pm, token)
    for project in load_projects(args.projects):  # bad files fail here, as one line
        project.close()
    env = {k: v for k, v in os.environ.items() if k != TOKEN_ENV}
    if token is not None:
        env[TOKEN_ENV] = token
    argv = [sys.executable, "-m", PROCESS_MODULE, "--host", args.host, "--port", str(args.port)]
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(sys.executable, [*argv, "--", *args.projects], env)
    raise AssertionError("unreachable")


def serve(args: argparse.Namespace, pm: Any, token: str | None) -> int:
    """Load the projects, build the app and serve it in this process until interrupted."""
    import uvicorn

    from relscope.plugins.viewers.explorer.app import build_app
    from relscope.plugins.viewers.explorer.connection_limits import server_config
    from relscope.plugins.viewers.explorer.image_routes import warm_up_renderers
    from relscope.plugins.viewers.explorer.served_project import load_projects

    projects = load_projects(args.projects)
    app = build_app(projects, token=token, host=args.host, pm=pm)
    explorer = app.state.explorer
    if len(explorer.colormaps):
        warm_up_renderers(explorer.colormap(explorer.default_colormap()))
    sock = _bind(args.host, args.port)
    port = sock.getsockname()[1]
    shown = f"[{args.host}]" if ":" in args.host else args.host
    url = f"http://{shown}:{port}/"
    print(f"relscope: serving {len(projects)} project(s) at {url}", flush=True)
    if token is not None:
        print(f"relscope: access token: {token}", flush=True)
        print(f"relscope: open {url}?token={token}", flush=True)
    print("relscope: press Ctrl+C to stop", file=sys.stderr, flush=True)
    server = uvicorn.Server(server_config(app))
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()
    return 0
