"""What the explorer does when it starts serving: it reads its small files ahead, so a real uvicorn
server on a project in ViRelAy's file layout has every chunk row decoded before any request, and a
request for a row the read-ahead has not reached is answered at once, while the read-ahead is still
going; and it starts its render threads, so a burst of first views starts no thread.

The server runs in this process (so the test can count the cache's decodes) and is asked over real
HTTP; expected pixels come from the documented heatmap formula.
"""

from __future__ import annotations

import io
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import h5py
import httpx
import numpy as np
import pytest
import uvicorn
from PIL import Image

from relscope.core.data import chunk_blocks
from relscope.plugins.viewers.explorer import render_pool
from relscope.plugins.viewers.explorer.app import build_app
from relscope.plugins.viewers.explorer.connection_limits import server_config
from relscope.plugins.viewers.explorer.served_project import ServedProject, load_projects
from tests.test_explorer_first_views import (
    COUNT,
    _heatmap_path,
    _symmetric_indices,
    _write_virelay_layout_project,
)


@contextmanager
def _serving(yaml_path: Path) -> Iterator[tuple[str, ServedProject]]:
    """The explorer app of ``yaml_path`` under uvicorn on a free loopback port."""
    projects = load_projects([yaml_path])
    server = uvicorn.Server(server_config(build_app(projects)))
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}/", projects[0]
    finally:
        server.should_exit = True
        thread.join(timeout=60)
        sock.close()


def _chunk_rows(root: Path) -> int:
    """Chunk rows of the input and attribution datasets together."""
    total = 0
    for name, key in (("input.h5", "data"), ("attribution.h5", "attribution")):
        with h5py.File(root / name, "r") as file:
            total += -(-COUNT // file[key].chunks[0])
    return total


def _pixels(png: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(png)) as image:
        assert image.mode == "P"
        return np.asarray(image)


def test_serving_decodes_every_chunk_row_before_any_request(tmp_path: Path) -> None:
    yaml_path, attributions = _write_virelay_layout_project(tmp_path / "project")
    rows = _chunk_rows(tmp_path / "project")
    with _serving(yaml_path) as (url, project):
        ahead = project.blocks.read_ahead
        assert ahead is not None and ahead.join(timeout=60)
        # no request was made: the serving itself decoded both files, each chunk row once
        assert ahead.decoded == project.blocks.decodes == len(project.blocks) == rows
        picks = np.random.default_rng(4).permutation(COUNT)[:40].tolist()
        with httpx.Client(base_url=url, timeout=60) as http:
            for index in picks:
                response = http.get(_heatmap_path(index, "attribution"))
                assert response.status_code == 200
                expected = _symmetric_indices(attributions[index])
                np.testing.assert_array_equal(_pixels(response.content), expected)
        assert project.blocks.decodes == rows  # first views were slices of decoded rows


def test_a_first_view_is_served_while_the_read_ahead_is_still_going(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    yaml_path, attributions = _write_virelay_layout_project(tmp_path / "project")
    rows = _chunk_rows(tmp_path / "project")
    inflate = chunk_blocks.INFLATE

    def slow_in_the_background(data: bytes, bufsize: int) -> bytes:
        if threading.current_thread().name == "read-ahead":
            time.sleep(0.02)  # a big, slow file: reading ahead takes seconds
        return inflate(data, bufsize=bufsize)

    monkeypatch.setattr(chunk_blocks, "INFLATE", slow_in_the_background)
    last = COUNT - 1  # its chunk row is the attribution file's last: read ahead last
    with _serving(yaml_path) as (url, project):
        ahead = project.blocks.read_ahead
        assert ahead is not None
        with httpx.Client(base_url=url, timeout=60) as http:
            response = http.get(_heatmap_path(last, "attribution"))
        assert response.status_code == 200
        np.testing.assert_array_equal(
            _pixels(response.content), _symmetric_indices(attributions[last])
        )
        assert not ahead.join(timeout=0)  # answered before the read-ahead was done
        assert ahead.decoded < rows
        assert ahead.join(timeout=120)
        # the request decoded its own row; the read-ahead skipped it (or dropped it part-way for
        # the request) and decoded the rest
        assert project.blocks.decodes == rows and ahead.decoded == rows - 1


def test_render_threads_start_with_the_server_and_serve_every_first_view(tmp_path: Path) -> None:
    yaml_path, attributions = _write_virelay_layout_project(tmp_path / "project")

    def render_threads() -> set[int]:
        return {t.ident for t in threading.enumerate() if t.name.startswith("render")}

    before = render_threads()
    with _serving(yaml_path) as (url, _project):
        started = render_threads() - before
        assert len(started) == render_pool.render_threads()  # before any request
        threads_before = {t.ident for t in threading.enumerate()}
        picks = np.random.default_rng(5).permutation(COUNT)[:48].tolist()
        answers: dict[int, bytes] = {}
        barrier = threading.Barrier(8)

        def client(number: int) -> None:
            with httpx.Client(base_url=url, timeout=60) as http:
                barrier.wait()
                for index in picks[number::8]:
                    response = http.get(_heatmap_path(index, "attribution"))
                    assert response.status_code == 200
                    answers[index] = response.content

        clients = [threading.Thread(target=client, args=(n,)) for n in range(8)]
        for thread in clients:
            thread.start()
        for thread in clients:
            thread.join(timeout=120)
        new = {t.ident for t in threading.enumerate()} - threads_before
        client_threads = {thread.ident for thread in clients}
        assert not (new - client_threads)  # the burst started no server thread
    assert sorted(answers) == sorted(picks)
    for index, png in answers.items():
        np.testing.assert_array_equal(_pixels(png), _symmetric_indices(attributions[index]))
