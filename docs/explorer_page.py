"""The browser set-up the README screenshot scripts share: a real ``relscope serve`` of the given
project files on a free loopback port, and Debian's chromium showing its page once it is ready."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"]
#: the relscope CLI of this interpreter
CLI = [sys.executable, "-m", "relscope.core.cli"]
VIEWPORT = {"width": 1400, "height": 900}


def build_demo(out: Path, *flags: str) -> None:
    """``relscope demo [flags] --no-serve --quiet --out out`` (reuses ``out`` when complete)."""
    subprocess.run([*CLI, "demo", *flags, "--no-serve", "--quiet", "--out", str(out)], check=True)


@contextmanager
def explorer_page(projects: list[Path]) -> Iterator[Any]:
    """Serve ``projects`` and yield a playwright page of the explorer, ready to be clicked."""
    server = subprocess.Popen(
        [*CLI, "serve", *map(str, projects), "--port", "0"], stdout=subprocess.PIPE, text=True
    )
    try:
        url = ""
        assert server.stdout is not None
        for line in server.stdout:
            if "serving" in line:
                url = line.rsplit(" at ", 1)[1].strip()
                break
        from playwright.sync_api import sync_playwright

        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            page = browser.new_page(viewport=VIEWPORT)
            page.goto(url)
            page.wait_for_function("() => document.body.dataset.ready === '1'")
            yield page
            browser.close()
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:  # a loaded machine: do not leave it running
            server.kill()
            server.wait()
