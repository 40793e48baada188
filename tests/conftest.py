"""Suite-wide settings: plugin failures are fatal, and CLI helpers that run the real console script."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

os.environ["RELSCOPE_STRICT_PLUGINS"] = "1"

REPO_ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"


def default_sigint() -> None:
    """Popen ``preexec_fn``: a child that takes SIGINT as Python does by default, even when this
    suite was started in the background by a shell (which makes its children ignore SIGINT)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def run_relscope(
    *args: str,
    env: dict[str, str] | None = None,
    cwd: str | os.PathLike[str] | None = None,
    timeout: float = 300,
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m relscope.core.cli ARGS`` in a subprocess, as a user's shell would."""
    full_env = dict(os.environ)
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "relscope.core.cli", *args],
        capture_output=True,
        text=True,
        env=full_env,
        cwd=cwd,
        timeout=timeout,
    )


@pytest.fixture
def relscope_cli() -> Callable[..., subprocess.CompletedProcess[str]]:
    """The :func:`run_relscope` helper as a fixture."""
    return run_relscope


@pytest.fixture(scope="session")
def fixture_plugin_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """tests/fixtures/relscope-fixture-rule installed for real with pip into a throw-away folder."""
    target = tmp_path_factory.mktemp("fixture-site")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--target",
            str(target),
            str(FIXTURES / "relscope-fixture-rule"),
        ],
        check=True,
        capture_output=True,
    )
    return target
