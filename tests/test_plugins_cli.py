"""Plugin discovery through real installed distributions: listing, provenance, blocking, failures."""

from __future__ import annotations

import json
import os
import textwrap
from pathlib import Path

import pytest

from tests.conftest import run_relscope


def _write_dist(site: Path, dist: str, version: str, module: str, source: str) -> None:
    """A minimal installed distribution (dist-info + module) with a ``relscope`` entry point."""
    (site / f"{module}.py").write_text(textwrap.dedent(source))
    info = site / f"{dist.replace('-', '_')}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
    (info / "entry_points.txt").write_text(f"[relscope]\n{module} = {module}\n")


@pytest.fixture
def broken_site(tmp_path: Path, fixture_plugin_site: Path) -> dict[str, str]:
    """PYTHONPATH with the good fixture plugin plus one that raises on import and one misspelled."""
    site = tmp_path / "site"
    site.mkdir()
    _write_dist(
        site, "boom-plugin", "1.0", "boom_plugin", "raise RuntimeError('kaboom at import')\n"
    )
    _write_dist(
        site,
        "typo-plugin",
        "2.0",
        "typo_plugin",
        """
        from relscope.core import hookimpl

        @hookimpl
        def register_rulez(register):
            register("never", object)
        """,
    )
    return {"PYTHONPATH": os.pathsep.join([str(fixture_plugin_site), str(site)])}


def test_third_party_rule_is_listed_with_its_distribution(fixture_plugin_site: Path) -> None:
    env = {"PYTHONPATH": str(fixture_plugin_site)}
    table = run_relscope("list", "rules", env=env)
    assert table.returncode == 0, table.stderr
    row = next(line for line in table.stdout.splitlines() if line.startswith("fixture_rule "))
    assert "relscope-fixture-rule 0.3.1" in row
    assert "stands for a third-party LRP rule" in row

    listed = json.loads(run_relscope("list", "rules", "--json", env=env).stdout)
    entry = next(e for e in listed if e["name"] == "fixture_rule")
    assert entry["distribution"] == "relscope-fixture-rule"
    assert entry["version"] == "0.3.1"
    assert entry["plugin"] == "fixture_rule"
    assert set(entry) == {"name", "plugin", "distribution", "version", "description", "parameters"}

    composites = json.loads(run_relscope("list", "composites", "--json", env=env).stdout)
    entry = next(e for e in composites if e["name"] == "fixture_composite")
    assert entry["description"] == "Composite from a fixture package."


def test_plugins_command_lists_third_party_plugin(fixture_plugin_site: Path) -> None:
    env = {"PYTHONPATH": str(fixture_plugin_site)}
    plugins = json.loads(run_relscope("plugins", "--json", env=env).stdout)
    mine = next(p for p in plugins if p["name"] == "fixture_rule")
    assert mine["status"] == "loaded"
    assert mine["distribution"] == "relscope-fixture-rule"
    assert mine["hooks"] == ["register_composites", "register_rules"]
    table = run_relscope("plugins", env=env).stdout
    assert any(
        line.startswith("fixture_rule ") and "relscope-fixture-rule 0.3.1" in line
        for line in table.splitlines()
    )


def test_disabling_a_plugin_removes_its_entries(fixture_plugin_site: Path) -> None:
    env = {"PYTHONPATH": str(fixture_plugin_site), "RELSCOPE_DISABLE_PLUGINS": "fixture_rule"}
    rules = json.loads(run_relscope("list", "rules", "--json", env=env).stdout)
    assert "fixture_rule" not in {e["name"] for e in rules}
    plugins = json.loads(run_relscope("plugins", "--json", env=env).stdout)
    assert next(p for p in plugins if p["name"] == "fixture_rule")["status"] == "blocked"


def test_broken_plugins_are_reported_and_skipped(broken_site: dict[str, str]) -> None:
    env = {**broken_site, "RELSCOPE_STRICT_PLUGINS": "0"}
    result = run_relscope("plugins", "--json", env=env)
    assert result.returncode == 0, result.stderr
    plugins = {p["name"]: p for p in json.loads(result.stdout)}
    assert plugins["boom_plugin"]["status"] == "failed"
    assert "kaboom at import" in plugins["boom_plugin"]["error"]
    assert plugins["typo_plugin"]["status"] == "failed"
    assert "register_rulez" in plugins["typo_plugin"]["error"]
    assert plugins["fixture_rule"]["status"] == "loaded"
    assert "boom_plugin" in result.stderr and "typo_plugin" in result.stderr

    rules = run_relscope("list", "rules", env=env)
    assert rules.returncode == 0
    assert "fixture_rule" in rules.stdout


@pytest.mark.parametrize("command", [["plugins"], ["list", "rules"]])
def test_strict_mode_makes_broken_plugins_fatal(
    broken_site: dict[str, str], command: list[str]
) -> None:
    result = run_relscope(*command, env={**broken_site, "RELSCOPE_STRICT_PLUGINS": "1"})
    assert result.returncode == 2
    assert result.stderr.startswith("relscope: error: plugin 'boom_plugin' failed: ")
    assert "kaboom at import" in result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def _write_plugin_file(folder: Path, stem: str, source: str) -> None:
    folder.mkdir(exist_ok=True)
    (folder / f"{stem}.py").write_text(textwrap.dedent(source))


DUPLICATE = """
from relscope.core import hookimpl

class Mine:
    '''A colour map from {stem}.'''

@hookimpl
def register_colormaps(register):
    register("twin", Mine)
"""


def test_two_plugins_registering_one_name_is_an_error_naming_both(tmp_path: Path) -> None:
    folder = tmp_path / "plugins"
    _write_plugin_file(folder, "first_maps", DUPLICATE.format(stem="first"))
    _write_plugin_file(folder, "second_maps", DUPLICATE.format(stem="second"))
    env = {"RELSCOPE_PLUGINS_DIR": str(folder)}

    strict = run_relscope("list", "colormaps", env={**env, "RELSCOPE_STRICT_PLUGINS": "1"})
    assert strict.returncode == 2
    assert "'twin'" in strict.stderr
    assert "file:first_maps" in strict.stderr and "file:second_maps" in strict.stderr

    lenient = run_relscope(
        "list", "colormaps", "--json", env={**env, "RELSCOPE_STRICT_PLUGINS": "0"}
    )
    assert lenient.returncode == 0
    twin = next(e for e in json.loads(lenient.stdout) if e["name"] == "twin")
    assert twin["plugin"] == "file:first_maps"
    assert "file:second_maps" in lenient.stderr


def test_override_replaces_an_earlier_registration(tmp_path: Path) -> None:
    folder = tmp_path / "plugins"
    _write_plugin_file(folder, "a_maps", DUPLICATE.format(stem="a"))
    _write_plugin_file(
        folder,
        "b_maps",
        """
        from relscope.core import hookimpl

        @hookimpl
        def register_colormaps(register):
            register("twin", "000,fff", description="Overrides twin.", override=True)
        """,
    )
    result = run_relscope("list", "colormaps", "--json", env={"RELSCOPE_PLUGINS_DIR": str(folder)})
    assert result.returncode == 0, result.stderr
    twin = next(e for e in json.loads(result.stdout) if e["name"] == "twin")
    assert (twin["plugin"], twin["description"]) == ("file:b_maps", "Overrides twin.")


def test_trace_env_prints_hook_calls(tmp_path: Path) -> None:
    folder = tmp_path / "plugins"
    _write_plugin_file(folder, "traced", DUPLICATE.format(stem="traced"))
    result = run_relscope(
        "list",
        "colormaps",
        env={"RELSCOPE_PLUGINS_DIR": str(folder), "RELSCOPE_TRACE_PLUGINS": "1"},
    )
    assert result.returncode == 0
    assert "relscope-trace: register_colormaps -> file:traced" in result.stderr
    quiet = run_relscope("list", "colormaps", env={"RELSCOPE_PLUGINS_DIR": str(folder)})
    assert "relscope-trace" not in quiet.stderr


def test_missing_plugins_dir_is_reported(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere"
    result = run_relscope("plugins", env={"RELSCOPE_PLUGINS_DIR": str(missing)})
    assert result.returncode == 2
    assert f"RELSCOPE_PLUGINS_DIR={missing} is not a directory" in result.stderr


def test_version_and_table_alignment(fixture_plugin_site: Path) -> None:
    from relscope.core import __version__

    assert run_relscope("--version").stdout.strip() == f"relscope {__version__}"
    lines = run_relscope("list", "rules", env={"PYTHONPATH": str(fixture_plugin_site)}).stdout
    header, rule, *rows = lines.splitlines()
    assert header.split() == ["name", "from", "description"]
    column = header.index("from")
    assert rule[column - 2 : column] == "  " and rule[column] == "-"
    assert all(row[column - 2 : column] == "  " and row[column] != " " for row in rows)


def test_unknown_list_kind_is_a_usage_error() -> None:
    result = run_relscope("list", "potatoes")
    assert result.returncode == 2
    assert "invalid choice: 'potatoes'" in result.stderr
