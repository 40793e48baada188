"""examples/plugin-template is a working third-party package: it installs, registers, and passes its tests."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT, run_relscope

TEMPLATE = REPO_ROOT / "examples" / "plugin-template"


@pytest.fixture(scope="module")
def template_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The template installed with pip (from a copy, so no build files land in the checkout)."""
    source = tmp_path_factory.mktemp("template-src") / "plugin-template"
    shutil.copytree(
        TEMPLATE, source, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__")
    )
    target = tmp_path_factory.mktemp("template-site")
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
         "--target", str(target), str(source)],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return target


@pytest.mark.parametrize(
    ("kind", "name"),
    [("rules", "positive_input_epsilon"), ("composites", "epsilon_positive_input")],
)
def test_template_entries_are_listed_with_their_distribution(
    template_site: Path, kind: str, name: str
) -> None:
    result = run_relscope("list", kind, "--json", env={"PYTHONPATH": str(template_site)})
    assert result.returncode == 0, result.stderr
    entry = next(e for e in json.loads(result.stdout) if e["name"] == name)
    assert (entry["distribution"], entry["version"]) == ("relscope-plugin-template", "0.1.0")


def test_template_own_tests_pass(template_site: Path, tmp_path: Path) -> None:
    env = dict(os.environ, PYTHONPATH=str(template_site))
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(TEMPLATE / "tests")],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stdout[-2000:]
    assert "2 passed" in result.stdout
