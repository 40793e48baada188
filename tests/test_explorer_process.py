"""The running explorer process: no torch in it (yet every panel and colour map), and reads that
run side by side, checked on real ``relscope serve`` subprocesses."""

from __future__ import annotations

import io
import os
import threading
from pathlib import Path

import httpx
import numpy as np
import pytest
from PIL import Image

from relscope.core.plugin_manager import get_plugin_manager
from tests.browser_support import EXPLORER_PROCESS, Server, server_env
from tests.explorer_projects import write_alpha, write_gamma

TOKEN = "process-test-token-0123456789"


def _mapped_files(pid: int) -> str:
    return Path(f"/proc/{pid}/maps").read_text()


def test_the_served_explorer_holds_no_torch_but_every_panel(tmp_path: Path) -> None:
    alpha = write_alpha(tmp_path / "alpha")
    env = {**server_env(), "RELSCOPE_TOKEN": TOKEN}
    server = Server([str(alpha.yaml_path), "--host", "127.0.0.2", "--port", "0"], env, tmp_path)
    try:
        assert server.token == TOKEN
        pid = server.process.pid
        maps = _mapped_files(pid)
        assert "libtorch" not in maps and "/torch/_C" not in maps
        assert TOKEN not in Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
        auth = {"Authorization": f"Bearer {TOKEN}"}
        panels = httpx.get(server.url + "api/panels", headers=auth).json()
        colormaps = httpx.get(server.url + "api/colormaps", headers=auth).json()
        everything = get_plugin_manager()  # this process loads every plugin
        assert sorted(p["name"] for p in panels) == sorted(everything.registry("panels"))
        assert sorted(c["name"] for c in colormaps) == sorted(everything.registry("colormaps"))
        page = httpx.get(server.url, headers=auth)
        assert page.status_code == 200 and "embedding_canvas" in page.text
    finally:
        server.stop()


@pytest.fixture()
def fifo_project(tmp_path: Path):
    """The gamma project with sample 3 (no attribution) replaced by a named pipe: reading it
    blocks until the test writes the image."""
    gamma = write_gamma(tmp_path / "gamma")
    images = tmp_path / "gamma" / "images"
    paths = sorted(p for p in images.rglob("*.png"))
    listing = tmp_path / "gamma" / "images_paths.txt"
    listing.write_text("".join(f"{p.relative_to(images.parent)}\n" for p in paths))
    blocked = paths[3]
    png = blocked.read_bytes()
    blocked.unlink()
    os.mkfifo(blocked)
    return gamma, blocked, png


def test_a_blocked_read_does_not_queue_the_others(fifo_project, tmp_path: Path) -> None:
    gamma, fifo, png = fifo_project
    server = Server([str(gamma.yaml_path), "--port", "0"], server_env(), tmp_path, EXPLORER_PROCESS)
    slow: dict = {}

    def read_blocked_image() -> None:
        slow["response"] = httpx.get(server.url + "api/projects/0/samples/3/image", timeout=120)

    reader = threading.Thread(target=read_blocked_image, daemon=True)
    try:
        reader.start()
        reader.join(2.0)
        assert reader.is_alive()  # sample 3 waits for its pipe
        quick = httpx.get(server.url + "api/projects/0/samples/0/image", timeout=30)
        assert quick.status_code == 200
        shown = np.asarray(Image.open(io.BytesIO(quick.content)).convert("RGB"))
        np.testing.assert_array_equal(shown, np.floor(gamma.images[0] * 255 + 0.5))
        listed = httpx.get(server.url + "api/projects/0/samples?indices=0-5", timeout=30)
        assert listed.status_code == 200  # sizes come from the data set, not from the pixels
        height, width = gamma.images.shape[1:3]
        assert [d["size"] for d in listed.json()] == [[height, width]] * 6
        assert [d["labels"][0]["index"] for d in listed.json()] == gamma.labels[:6].tolist()
        with open(fifo, "wb") as pipe:  # now let the blocked read finish
            pipe.write(png)
        reader.join(60)
        assert slow["response"].status_code == 200
    finally:
        if reader.is_alive():
            with open(fifo, "wb") as pipe:
                pipe.write(png)
        server.stop()
