"""Every hook spec is callable by a plugin and reaches relscope: one loose plugin implements them all."""

from __future__ import annotations

import inspect
import json
import textwrap
from pathlib import Path

import pytest

from relscope.core import hookspecs
from relscope.core.plugin_manager import get_plugin_manager
from relscope.core.registry import REGISTRY_HOOKS
from tests.conftest import run_relscope

EVERY_HOOK = """
from relscope.core import hookimpl


class Thing:
    '''Registered by the every-hook plugin.'''

    name = "every_panel"


@hookimpl
def register_rules(register):
    register("every_rule", Thing)


@hookimpl
def register_composites(register):
    register("every_composite", Thing)


@hookimpl
def register_canonizers(register):
    register("every_canonizer", Thing)


@hookimpl
def register_attributors(register):
    register("every_attributor", Thing)


@hookimpl
def register_processors(register):
    register("every_processor", Thing)


@hookimpl
def register_viewer_panels(register):
    register(Thing)


@hookimpl
def register_colormaps(register):
    register("every_colormap", "000,fff")


@hookimpl
def register_datasets(register):
    register("every_dataset", Thing)


@hookimpl
def register_commands(subparsers):
    parser = subparsers.add_parser("every-hello", help="say hello")
    parser.add_argument("who")
    parser.set_defaults(func=lambda args: print(f"hello {args.who}") or 3)


@hookimpl
def default_canonizers(model):
    return ["canonizer-for-" + type(model).__name__] if type(model).__name__ == "Marker" else None
"""

EXPECTED_NAMES = {
    "rules": "every_rule",
    "composites": "every_composite",
    "canonizers": "every_canonizer",
    "attributors": "every_attributor",
    "processors": "every_processor",
    "panels": "every_panel",
    "colormaps": "every_colormap",
    "datasets": "every_dataset",
}


@pytest.fixture
def every_hook_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "plugins"
    folder.mkdir()
    (folder / "every_hook.py").write_text(textwrap.dedent(EVERY_HOOK))
    return folder


def test_the_plugin_implements_every_spec() -> None:
    specs = {n for n, f in inspect.getmembers(hookspecs, inspect.isfunction) if n != "hookspec"}
    implemented = {line.split("(")[0][4:] for line in EVERY_HOOK.splitlines() if "def " in line}
    assert specs <= implemented
    assert set(REGISTRY_HOOKS.values()) | {"register_commands", "default_canonizers"} == specs


@pytest.mark.parametrize("kind", sorted(EXPECTED_NAMES))
def test_collect_hooks_fill_their_registry(every_hook_dir: Path, kind: str) -> None:
    result = run_relscope("list", kind, "--json", env={"RELSCOPE_PLUGINS_DIR": str(every_hook_dir)})
    assert result.returncode == 0, result.stderr
    entry = next(e for e in json.loads(result.stdout) if e["name"] == EXPECTED_NAMES[kind])
    assert entry["plugin"] == "file:every_hook"
    if kind != "colormaps":
        assert entry["description"] == "Registered by the every-hook plugin."


def test_register_commands_adds_a_subcommand(every_hook_dir: Path) -> None:
    result = run_relscope("every-hello", "world", env={"RELSCOPE_PLUGINS_DIR": str(every_hook_dir)})
    assert (result.returncode, result.stdout) == (3, "hello world\n")


def test_default_canonizers_is_first_result(every_hook_dir: Path) -> None:
    pm = get_plugin_manager(plugins_dir=every_hook_dir)

    class Marker:
        pass

    class Other:
        pass

    assert pm.hook.default_canonizers(model=Marker()) == ["canonizer-for-Marker"]
    assert pm.hook.default_canonizers(model=Other()) is None
