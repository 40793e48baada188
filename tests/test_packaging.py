"""The distribution declares every package and plugin module, and the wheel ships every file."""

from __future__ import annotations

import importlib.metadata
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
PACKAGE_DIRS = {"relscope.core": ROOT / "core", "relscope.plugins": ROOT / "plugins"}


def _module_name(path: Path) -> str:
    for package, folder in PACKAGE_DIRS.items():
        if folder in path.parents or path == folder:
            parts = path.relative_to(folder).with_suffix("").parts
            parts = parts[:-1] if parts[-1] == "__init__" else parts
            return ".".join([package, *parts])
    raise AssertionError(path)


def _source_files(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file() and "__pycache__" not in p.parts]


def test_every_package_folder_is_listed() -> None:
    listed = set(PYPROJECT["tool"]["setuptools"]["packages"])
    folders = {
        _module_name(init.parent / "__init__.py")
        for base in PACKAGE_DIRS.values()
        for init in base.rglob("__init__.py")
    }
    # a viewer's static/ folder is a data-only package (setuptools warns about unlisted ones)
    folders |= {
        _module_name(static / "__init__.py")
        for static in (ROOT / "plugins").glob("viewers/*/static")
    }
    assert folders - listed == set(), "package folders missing from [tool.setuptools] packages"
    assert listed - folders == set(), "listed packages without a folder"


def _implements_hooks(path: Path) -> bool:
    """Whether the module defines hook implementations: ``@hookimpl`` functions, or a hook made by
    a helper such as ``Panel.for_package`` (an attribute carrying pluggy's ``relscope_impl``)."""
    text = path.read_text()
    if "@hookimpl" in text:
        return True
    if "register_" not in text and "default_canonizers" not in text:
        return False
    module = importlib.import_module(_module_name(path))
    return any(hasattr(value, "relscope_impl") for value in vars(module).values())


def test_every_plugin_module_has_an_entry_point() -> None:
    declared = PYPROJECT["project"]["entry-points"]["relscope"]
    plugin_modules = {
        _module_name(path) for path in (ROOT / "plugins").rglob("*.py") if _implements_hooks(path)
    }
    assert plugin_modules - set(declared.values()) == set()
    for name, module in declared.items():
        assert name == "relscope." + module.removeprefix("relscope.plugins."), f"{name} -> {module}"
        assert module in plugin_modules, f"entry point {name} names no plugin module"


def test_installed_metadata_matches_pyproject() -> None:
    """A stale install would hide a new entry point; `make test` reinstalls, this checks it did."""
    installed = {
        ep.name: ep.value
        for ep in importlib.metadata.entry_points(group="relscope")
        if ep.dist is not None and ep.dist.metadata["Name"] == "relscope"
    }
    assert installed == PYPROJECT["project"]["entry-points"]["relscope"]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> zipfile.ZipFile:
    """Build from a copy of the tree, so no build/ or egg-info lands in the checkout."""
    out = tmp_path_factory.mktemp("wheel")
    source = tmp_path_factory.mktemp("source")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    for folder in PACKAGE_DIRS.values():
        shutil.copytree(folder, source / folder.name, ignore=shutil.ignore_patterns("__pycache__"))
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(out),
            str(source),
        ],
        check=True,
        capture_output=True,
    )
    (path,) = out.glob("relscope-*.whl")
    return zipfile.ZipFile(path)


def test_wheel_contains_every_package_and_static_file(wheel: zipfile.ZipFile) -> None:
    names = set(wheel.namelist())
    expected = {
        "relscope/" + prefix + "/" + str(path.relative_to(folder))
        for package, folder in PACKAGE_DIRS.items()
        for prefix in [package.split(".")[1]]
        for path in _source_files(folder)
        if path.suffix not in {".pyc"}
    }
    missing = sorted(expected - names)
    assert missing == []
    assert not any(n.startswith("relscope/__init__") for n in names), "relscope is a namespace"
    entry_points = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
    text = wheel.read(entry_points).decode()
    assert "relscope = relscope.core.cli.main:console_main" in text
