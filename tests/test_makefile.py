"""The README's two commands: ``make demo`` installs relscope alone, ``make test`` the test extras."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def dry_run(target: str, tmp_path: Path) -> list[str]:
    """The commands ``make TARGET`` would run, with a fresh (absent) venv folder."""
    venv = tmp_path / "venv"
    result = subprocess.run(
        ["make", "-n", "--no-print-directory", "-C", str(ROOT), target, f"VENV={venv}"],
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout.splitlines()


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_demo_installs_without_the_test_extras_and_test_with_them(tmp_path: Path) -> None:
    demo = dry_run("demo", tmp_path)
    installs = [line for line in demo if "pip install -e" in line]
    assert len(installs) == 1 and installs[0].endswith("pip install -e .")
    assert any(line.endswith("relscope demo --port 8080") for line in demo)
    assert any("torch==2.14.1" in line for line in demo)  # a fresh clone gets its venv first
    test = dry_run("test", tmp_path)
    assert [line for line in test if "pip install -e" in line][0].endswith(
        'pip install -e ".[test]"'
    )
    assert test[-1].endswith("-m pytest")
