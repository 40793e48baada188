"""Who may talk to a real ``relscope serve`` process: per-port token cookies, foreign cookies,
token sources and validation, whole-Host checks, a bounded wait for request heads, and the
security headers on refusals. Servers are real subprocesses; clients are httpx and raw sockets."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from starlette.testclient import TestClient

from relscope.core.errors import ExplorerError
from relscope.plugins.viewers.explorer.app import build_app
from relscope.plugins.viewers.explorer.connection_limits import HEADER_TIMEOUT
from relscope.plugins.viewers.explorer.served_project import load_projects
from tests.browser_support import EXPLORER_PROCESS, Server, server_env
from tests.explorer_projects import write_alpha, write_beta

#: a loopback address that is not one of the default names, so the server asks for a token
REMOTE_HOST = "127.0.0.2"
TOKEN_A = "token-for-server-a-0123456789"
TOKEN_B = "token-for-server-b-9876543210"
SECURITY_HEADERS = ("x-content-type-options", "x-frame-options", "content-security-policy")


@pytest.fixture(scope="module")
def projects(tmp_path_factory: pytest.TempPathFactory) -> dict:
    root = tmp_path_factory.mktemp("explorer-access")
    return {"alpha": write_alpha(root / "alpha"), "beta": write_beta(root / "beta"), "root": root}


@pytest.fixture(scope="module")
def two_servers(projects: dict):
    """Two token servers on one host, different ports: A by $RELSCOPE_TOKEN, B by --token-file."""
    root = projects["root"]
    env_a = {**server_env(), "RELSCOPE_TOKEN": TOKEN_A}
    token_file = root / "token-b.txt"
    token_file.write_text(TOKEN_B + "\n")
    env_b = {k: v for k, v in server_env().items() if k != "RELSCOPE_TOKEN"}
    common = ["--host", REMOTE_HOST, "--port", "0"]
    a = Server([str(projects["alpha"].yaml_path), *common], env_a, root, EXPLORER_PROCESS)
    try:
        b_args = [str(projects["beta"].yaml_path), *common, "--token-file", str(token_file)]
        b = Server(b_args, env_b, root, EXPLORER_PROCESS)
    except BaseException:
        a.stop()
        raise
    yield a, b
    a.stop()
    b.stop()


def _cmdline(pid: int) -> str:
    return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()


def test_token_from_environment_and_file_stays_out_of_the_command_line(two_servers) -> None:
    a, b = two_servers
    assert (a.token, b.token) == (TOKEN_A, TOKEN_B)  # the tokens given, not generated ones
    for server, token in ((a, TOKEN_A), (b, TOKEN_B)):
        assert token not in _cmdline(server.process.pid)
        assert httpx.get(server.url + "api/projects").status_code == 401
        bearer = {"Authorization": f"Bearer {token}"}
        assert httpx.get(server.url + "api/projects", headers=bearer).status_code == 200


def test_each_server_keeps_its_own_cookie_on_one_host(two_servers) -> None:
    a, b = two_servers
    with httpx.Client() as browser:  # one cookie jar for the host, as in a browser
        opened_a = browser.get(a.url, params={"token": TOKEN_A})
        opened_b = browser.get(b.url, params={"token": TOKEN_B})
        for opened, server in ((opened_a, a), (opened_b, b)):
            port = server.url.rstrip("/").rsplit(":", 1)[1]
            cookie = opened.headers["set-cookie"]
            assert cookie.startswith(f"relscope_token_{port}=")
            assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
        # both explorers still accept the page's own requests with the shared jar
        assert browser.get(a.url + "api/projects").json()[0]["name"] == "Alpha shapes"
        assert browser.get(b.url + "api/projects").json()[0]["name"] == "Beta shapes"


def test_foreign_cookies_in_any_syntax_do_not_hide_ours(two_servers) -> None:
    a, _ = two_servers
    port = a.url.rstrip("/").rsplit(":", 1)[1]
    foreign = 'prefs={"a":1}; session=abc def; theme="dark'
    ours = f"{foreign}; relscope_token_{port}={TOKEN_A}; other=1"
    assert httpx.get(a.url + "api/projects", headers={"Cookie": ours}).status_code == 200
    assert httpx.get(a.url + "api/projects", headers={"Cookie": foreign}).status_code == 401
    wrong = f"relscope_token_{port}={TOKEN_B}"
    assert httpx.get(a.url + "api/projects", headers={"Cookie": wrong}).status_code == 401


def test_refusals_carry_the_security_headers(two_servers, projects: dict) -> None:
    a, _ = two_servers
    refused = httpx.get(a.url + "api/projects")
    assert refused.status_code == 401
    assert all(name in refused.headers for name in SECURITY_HEADERS)
    with TestClient(build_app(load_projects([projects["alpha"].yaml_path]))) as local:
        foreign = local.get("/api/projects", headers={"Host": "evil.example"})
        assert foreign.status_code == 403
        assert all(name in foreign.headers for name in SECURITY_HEADERS)


@pytest.mark.parametrize(
    "host",
    ["[::1]evil.example", "127.0.0.1evil.example", "localhost:80x", "localhost:8080:1", "[::1",
     "localhost/evil", "127.0.0.1 evil"],
)  # fmt: skip
def test_loopback_server_checks_the_whole_host_header(projects: dict, host: str) -> None:
    with TestClient(build_app(load_projects([projects["alpha"].yaml_path]))) as local:
        assert local.get("/api/projects", headers={"Host": host}).status_code == 403
        for good in ("[::1]:8080", "127.0.0.1", "LOCALHOST:80"):
            assert local.get("/api/projects", headers={"Host": good}).status_code == 200


def test_a_token_with_a_line_break_is_refused_without_printing_it(projects: dict) -> None:
    token = "abcdefghijklmnop0123\n"
    with pytest.raises(ExplorerError, match="access token"):
        build_app(load_projects([projects["alpha"].yaml_path]), token=token, host="0.0.0.0")
    command = [sys.executable, "-m", "relscope.core.cli", "serve", str(projects["alpha"].yaml_path)]
    done = subprocess.run(
        [*command, "--port", "0", "--token", token],
        capture_output=True,
        text=True,
        timeout=120,
        env=server_env(),
    )
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr.startswith("relscope: error: --token") and done.stderr.count("\n") == 1
    assert token.strip() not in done.stdout + done.stderr
    env = {**server_env(), "RELSCOPE_TOKEN": "short"}
    done = subprocess.run(
        [*command, "--port", "0"], capture_output=True, text=True, timeout=120, env=env
    )
    assert done.returncode == 2 and "$RELSCOPE_TOKEN" in done.stderr and "short" not in done.stderr


def test_a_client_that_never_finishes_its_headers_is_dropped(projects: dict) -> None:
    args = [str(projects["alpha"].yaml_path), "--port", "0"]
    server = Server(args, server_env(), projects["root"], EXPLORER_PROCESS)
    try:
        host, port = server.url.removeprefix("http://").rstrip("/").rsplit(":", 1)
        with socket.create_connection((host, int(port)), timeout=HEADER_TIMEOUT + 20) as raw:
            started = time.monotonic()
            raw.sendall(b"GET /api/projects HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: 1")
            time.sleep(1.0)
            raw.sendall(b"2")  # still trickling: data alone does not extend the deadline
            assert raw.recv(1024) == b""  # the server hung up (a timeout raises instead)
            waited = time.monotonic() - started
        assert HEADER_TIMEOUT - 1 <= waited <= HEADER_TIMEOUT + 15
        # an ordinary client on a kept-alive connection is still served
        with httpx.Client() as client:
            assert client.get(server.url + "api/projects").status_code == 200
            assert client.get(server.url + "api/projects").status_code == 200
    finally:
        server.stop()
