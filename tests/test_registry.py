"""Registries in process: lookups, provenance, all-or-nothing registration per plugin."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from relscope.core.errors import PluginError, UnknownNameError
from relscope.core.plugin_manager import get_plugin_manager


def _plugin(folder: Path, stem: str, body: str) -> None:
    folder.mkdir(exist_ok=True)
    source = "from relscope.core import hookimpl\n\n" + textwrap.dedent(body)
    (folder / f"{stem}.py").write_text(source)


def test_unknown_name_lists_the_known_ones(tmp_path: Path) -> None:
    _plugin(
        tmp_path,
        "maps",
        """
        @hookimpl
        def register_colormaps(register):
            register("zeta", "000,fff")
            register("alpha", "fff,000")
        """,
    )
    registry = get_plugin_manager(plugins_dir=tmp_path, disable=[]).registry("colormaps")
    assert registry.lookup("alpha") == "fff,000"
    with pytest.raises(UnknownNameError) as info:
        registry.lookup("gamma")
    message = str(info.value)
    assert message.startswith("unknown colormap 'gamma'; known: ")
    assert message.index("alpha") < message.index("zeta")


def test_a_plugin_failing_midway_contributes_nothing(tmp_path: Path) -> None:
    _plugin(
        tmp_path,
        "halfway",
        """
        @hookimpl
        def register_processors(register):
            register("first_half", object)
            raise ValueError("second half broke")
        """,
    )
    pm = get_plugin_manager(plugins_dir=tmp_path, strict=False)
    registry = pm.registry("processors")
    assert "first_half" not in registry
    status = pm.status_of("file:halfway")
    assert status is not None and status.status == "failed"
    assert "second half broke" in (status.error or "")

    strict = get_plugin_manager(plugins_dir=tmp_path, strict=True)
    with pytest.raises(PluginError, match="second half broke"):
        strict.registry("processors")


def test_blocking_a_loose_plugin_by_its_stem(tmp_path: Path) -> None:
    _plugin(
        tmp_path,
        "blockme",
        """
        @hookimpl
        def register_rules(register):
            register("blocked_rule", object)
        """,
    )
    pm = get_plugin_manager(plugins_dir=tmp_path, disable=["blockme"])
    assert "blocked_rule" not in pm.registry("rules")
    assert pm.status_of("file:blockme").status == "blocked"
    assert "blocked_rule" in get_plugin_manager(plugins_dir=tmp_path).registry("rules")


def test_register_needs_a_name(tmp_path: Path) -> None:
    _plugin(
        tmp_path,
        "nameless",
        """
        @hookimpl
        def register_rules(register):
            register(42)
        """,
    )
    pm = get_plugin_manager(plugins_dir=tmp_path, strict=False)
    assert all(entry.plugin != "file:nameless" for entry in pm.registry("rules").entries())
    assert "needs a non-empty name" in pm.status_of("file:nameless").error
