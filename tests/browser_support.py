"""Shared pieces of the browser tests: a real ``relscope serve`` subprocess, chromium settings,
screenshots and page helpers for the explorer."""

from __future__ import annotations

import io
import os
import queue
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
VIEWPORT = {"width": 1280, "height": 860}


#: ``relscope serve`` itself, and the explorer process it becomes (which starts without loading
#: every plugin first: quicker where the command line is not what a test is about)
SERVE_COMMAND = ["-m", "relscope.core.cli", "serve"]
EXPLORER_PROCESS = ["-m", "relscope.plugins.viewers.explorer.explorer_process"]


class Server:
    """A ``relscope serve`` subprocess and the lines it printed at start."""

    def __init__(
        self, args: list[str], env: dict[str, str], cwd: Path, command: list[str] = SERVE_COMMAND
    ) -> None:
        self.process = subprocess.Popen(
            [sys.executable, *command, *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
            cwd=cwd,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.output: list[str] = []
        threading.Thread(target=self._pump, daemon=True).start()
        self.url = ""
        self.token: str | None = None
        deadline = time.monotonic() + 90
        while True:
            try:
                line = self.lines.get(timeout=0.5)
            except queue.Empty:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise AssertionError(
                        "relscope serve did not start: " + "".join(self.output)
                    ) from None
                continue
            if "access token:" in line:
                self.token = line.rsplit(":", 1)[1].strip()
            if "serving" in line:
                self.url = line.rsplit(" at ", 1)[1].strip()
            if "press Ctrl+C" in line:
                break

    def _pump(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.output.append(line)
            self.lines.put(line)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def server_env(extra_path: Path | None = None) -> dict[str, str]:
    env = dict(os.environ)
    if extra_path is not None:
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(extra_path), env.get("PYTHONPATH", "")) if p
        )
    return env


class Screens:
    """Numbered screenshots of one test in its own folder."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.folder.mkdir(parents=True, exist_ok=True)
        self.count = 0
        self.last: Path | None = None

    def take(self, page: Any, name: str) -> Path:
        self.count += 1
        path = self.folder / f"{self.count:02d}-{name}.png"
        page.screenshot(path=str(path))
        self.last = path
        return path


# -- page helpers ----------------------------------------------------------------------------------


def wait_ready(page: Any) -> None:
    page.wait_for_function("() => document.body.dataset.ready === '1'")
    page.wait_for_selector(".canvas-stage[data-drawn]")


def drawn_key(page: Any) -> str:
    return page.locator(".canvas-stage").get_attribute("data-drawn") or ""


def wait_redraw(page: Any, previous: str) -> None:
    page.wait_for_function(
        "prev => document.querySelector('.canvas-stage').dataset.drawn !== prev", arg=previous
    )
    page.wait_for_timeout(100)  # one more animation frame for the overlay


def pixels(page: Any, selector: str) -> np.ndarray:
    png = page.locator(selector).first.screenshot()
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(np.int16)


def changed_fraction(before: np.ndarray, after: np.ndarray) -> float:
    """Share of pixels whose colour changed by more than a little."""
    if before.shape != after.shape:
        return 1.0
    return float((np.abs(before - after).max(axis=2) > 24).mean())


def wait_strip_images(page: Any) -> None:
    page.wait_for_function(
        """() => {
            const images = [...document.querySelectorAll('.strip img')];
            return images.length > 0 && images.every((i) => i.complete && i.naturalWidth > 0);
        }"""
    )


def selected_count(page: Any) -> int:
    return int(page.locator("#selection-count").get_attribute("data-count") or "0")


def canvas_box(page: Any) -> dict:
    return page.locator(".overlay-layer").bounding_box()


def drag(page: Any, points: list[tuple[float, float]], shift: bool = False) -> None:
    if shift:
        page.keyboard.down("Shift")
    page.mouse.move(*points[0])
    page.mouse.down()
    for point in points[1:]:
        page.mouse.move(*point, steps=4)
    page.mouse.up()
    if shift:
        page.keyboard.up("Shift")


def choose(page: Any, name: str, value: str) -> None:
    previous = drawn_key(page)
    page.select_option(f'select[data-setup="{name}"]', value)
    wait_redraw(page, previous)
