"""The CLI answers without the heavy libraries: listing, help and ``analyze`` run in real
subprocesses that report which of torch, scikit-learn, ... they imported; built-ins registered by
import path declare what the real objects say; third-party plugins written the eager way still work.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from relscope.core.errors import PluginError
from relscope.core.lazy_reference import LazyReference
from relscope.core.plugin_manager import get_plugin_manager
from relscope.core.registry import REGISTRY_HOOKS, describe
from tests.conftest import REPO_ROOT
from tests.test_analyze_cli import write_inputs
from tests.test_plugins_cli import _write_dist

#: libraries no plugin module may import at module level (the brief's list, PIL aside)
HEAVY = ("torch", "torchvision", "transformers", "sklearn", "scipy", "matplotlib")
ENTRY_POINTS: dict[str, str] = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"][
    "entry-points"
]["relscope"]

#: runs ``main(argv)`` like the console script, then writes its exit code and the heavy modules
#: it imported (plus what ``extra`` computed) to the report file named by the environment
RUNNER = """
import json, os, sys
from relscope.core.cli.main import main
try:
    code = main(sys.argv[1:])
except SystemExit as exc:  # --help exits through argparse
    code = exc.code
extra = {}
EXTRA
report = {"code": code, "extra": extra}
report["imported"] = [m for m in HEAVY if m in sys.modules]
with open(os.environ["RELSCOPE_TEST_REPORT"], "w") as handle:
    json.dump(report, handle)
"""


def run_reporting(
    tmp_path: Path, *argv: str, env: dict[str, str] | None = None, extra: str = ""
) -> tuple[dict, subprocess.CompletedProcess[str]]:
    """Run the CLI with ``argv`` in a fresh interpreter; its report and the finished process."""
    report = tmp_path / f"report-{len(list(tmp_path.glob('report-*')))}.json"
    source = RUNNER.replace("EXTRA", extra or "pass").replace("HEAVY", repr(HEAVY))
    full_env = {**os.environ, **(env or {}), "RELSCOPE_TEST_REPORT": str(report)}
    done = subprocess.run(
        [sys.executable, "-c", source, *argv],
        capture_output=True,
        text=True,
        env=full_env,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(report.read_text()), done


@pytest.mark.parametrize(
    "argv",
    [
        ("list", "composites", "--json"),
        ("list", "processors", "--json"),
        ("list", "canonizers"),
        ("plugins", "--json"),
        ("--help",),
        ("attribute", "--help"),
        ("analyze", "--help"),
    ],
    ids=" ".join,
)
def test_listing_and_help_import_no_heavy_library(tmp_path: Path, argv: tuple[str, ...]) -> None:
    report, done = run_reporting(tmp_path, *argv)
    assert report["code"] == 0, done.stderr
    assert report["imported"] == []
    if argv[:2] == ("list", "composites"):
        listed = {entry["name"]: entry for entry in json.loads(done.stdout)}
        gamma_box = {p["name"]: p for p in listed["epsilon_gamma_box"]["parameters"]}
        assert gamma_box["gamma"]["default"] == 0.25 and gamma_box["gamma"]["type"] == "float"
        assert listed["attn_lrp"]["description"].startswith("AttnLRP")
    if argv[:2] == ("list", "processors"):
        assert "spray" in {entry["name"] for entry in json.loads(done.stdout)}
    if argv == ("plugins", "--json"):
        statuses = {p["name"]: p["status"] for p in json.loads(done.stdout)}
        assert set(ENTRY_POINTS) <= set(statuses)
        assert set(statuses.values()) == {"loaded"}


def test_every_entry_point_module_imports_without_heavy_libraries() -> None:
    """One fresh interpreter imports the modules one by one and stops at the first that pulls a
    heavy library in (imports only add modules, so the first offender is found either way)."""
    source = (
        "import importlib, json, sys\n"
        f"heavy = {HEAVY!r}\n"
        "for module in sys.argv[1:]:\n"
        "    importlib.import_module(module)\n"
        "    found = [name for name in heavy if name in sys.modules]\n"
        "    if found:\n"
        "        print(json.dumps([module, found]))\n"
        "        break\n"
        "else:\n"
        "    print(json.dumps(None))\n"
    )
    modules = sorted(set(ENTRY_POINTS.values()))
    done = subprocess.run(
        [sys.executable, "-c", source, *modules], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.splitlines()[-1]) is None


def test_analyze_imports_no_torch_fresh_or_cached(tmp_path: Path) -> None:
    write_inputs(tmp_path)
    argv = [
        "analyze",
        str(tmp_path / "attribution.h5"),
        "--label-map",
        str(tmp_path / "label-map.json"),
        "--categories",
        "one",
        "--n-eigval",
        "6",
        "--n-neighbors",
        "8",
        "--clusters",
        "2..4",
        "--threads",
        "1",
        "--cache",
        str(tmp_path / "cache.h5"),
        "--out",
    ]
    fresh, _ = run_reporting(tmp_path, *argv, str(tmp_path / "fresh.h5"))
    assert fresh["code"] == 0
    assert "sklearn" in fresh["imported"]  # it computed: the report does see imports
    assert not {"torch", "torchvision", "transformers"} & set(fresh["imported"])
    cached, done = run_reporting(tmp_path, *argv, str(tmp_path / "cached.h5"))
    assert cached["code"] == 0
    assert not {"torch", "torchvision", "transformers", "sklearn"} & set(cached["imported"])
    # the cached run wrote the same analysis as the computing one
    import h5py
    import numpy as np

    with h5py.File(tmp_path / "fresh.h5") as a, h5py.File(tmp_path / "cached.h5") as b:
        names: list[str] = []
        a.visit(names.append)
        datasets = [n for n in names if isinstance(a[n], h5py.Dataset)]
        assert datasets
        for name in datasets:
            np.testing.assert_array_equal(a[name][()], b[name][()], err_msg=name)


def test_lazy_declarations_match_the_real_objects() -> None:
    """Every built-in registered by import path declares the description and parameters that
    its real object gives, so listings cannot drift from the code."""
    pm = get_plugin_manager()
    checked = 0
    for kind in REGISTRY_HOOKS:
        registry = pm.registry(kind)
        for entry in registry.entries():
            if not entry.is_lazy:
                continue
            real = entry.obj
            assert not isinstance(real, LazyReference)
            assert entry.description == describe(real), f"{kind} {entry.name}: description"
            declared = [_comparable(p) for p in entry.parameters.values()]
            actual = [_comparable(p) for p in registry.parameters(real).values()]
            assert declared == actual, f"{kind} {entry.name}: parameters"
            checked += 1
    torch_kinds = ("rules", "composites", "canonizers", "attributors", "metrics")
    for kind in torch_kinds:  # every built-in of the torch-based kinds is lazy
        builtin = [e for e in pm.registry(kind).entries() if e.plugin.startswith("relscope.")]
        assert builtin and all(e.is_lazy for e in builtin), kind
    assert checked >= 45


def _comparable(parameter: object) -> tuple:
    """A parameter as listings show it (non-literal defaults by repr) plus its help text."""
    shown = parameter.as_dict()  # type: ignore[attr-defined]
    return (*shown.values(), parameter.help)  # type: ignore[attr-defined]


def test_third_party_eager_plugin_is_listed_and_usable(
    tmp_path: Path, fixture_plugin_site: Path
) -> None:
    """The fixture package registers classes directly (the current way): listed with its
    provenance, fetched and created as itself, and built-in lazy objects still load beside it."""
    extra = (
        "from relscope.core import get_registry\n"
        "rules = get_registry('rules')\n"
        "rule = rules['fixture_rule']\n"
        "extra['rule'] = f'{rule.__module__}.{rule.__qualname__}'\n"
        "extra['created'] = type(rules.create('fixture_rule')).__name__\n"
        "extra['before_builtin'] = 'torch' in sys.modules\n"
        "extra['gamma'] = type(rules.create('gamma', gamma=0.5)).__module__\n"
        "extra['after_builtin'] = 'torch' in sys.modules\n"
    )
    env = {"PYTHONPATH": str(fixture_plugin_site)}
    report, done = run_reporting(tmp_path, "list", "rules", "--json", env=env, extra=extra)
    listed = {entry["name"]: entry for entry in json.loads(done.stdout)}
    assert listed["fixture_rule"]["distribution"] == "relscope-fixture-rule"
    assert listed["fixture_rule"]["description"].startswith("Fixture rule")
    assert report["extra"]["rule"] == "relscope_fixture_rule.FixtureRule"
    assert report["extra"]["created"] == "FixtureRule"
    assert report["extra"]["before_builtin"] is False
    assert report["extra"]["gamma"] == "relscope.plugins.rules.linear_rules"
    assert report["extra"]["after_builtin"] is True


def test_plugin_failing_to_import_is_reported_without_torch(tmp_path: Path) -> None:
    site = tmp_path / "site"
    site.mkdir()
    _write_dist(
        site,
        "missing-dep-plugin",
        "0.2",
        "missing_dep_plugin",
        "import a_dependency_that_is_not_installed\n",
    )
    env = {"PYTHONPATH": str(site), "RELSCOPE_STRICT_PLUGINS": "0"}
    report, done = run_reporting(tmp_path, "plugins", "--json", env=env)
    assert report["code"] == 0 and report["imported"] == []
    plugins = {p["name"]: p for p in json.loads(done.stdout)}
    broken = plugins["missing_dep_plugin"]
    assert broken["status"] == "failed"
    assert broken["distribution"] == "missing-dep-plugin"
    assert "ModuleNotFoundError" in broken["error"]
    assert "a_dependency_that_is_not_installed" in broken["error"]
    assert plugins["relscope.rules.lrp"]["status"] == "loaded"


def test_lazy_entry_that_cannot_load_fails_when_fetched_not_when_listed(tmp_path: Path) -> None:
    """A lazy reference to a module that is missing lists fine; fetching it names the entry,
    its plugin and the module."""
    folder = tmp_path / "plugins"
    folder.mkdir()
    (folder / "dangling.py").write_text(
        "from relscope.core import Parameter, hookimpl, lazy\n\n"
        "@hookimpl\n"
        "def register_rules(register):\n"
        "    register('dangling', lazy('no_such_package.rules:Rule', Parameter('k', 'int', 3)),\n"
        "             description='Points at a module that is not installed.')\n"
    )
    pm = get_plugin_manager(plugins_dir=folder, strict=True)
    rules = pm.registry("rules")
    entry = rules.entry("dangling")
    assert entry.as_dict()["parameters"] == [
        {"name": "k", "type": "int", "default": 3, "required": False}
    ]
    assert entry.description == "Points at a module that is not installed."
    with pytest.raises(PluginError, match=r"'dangling' of plugin 'file:dangling'.*no_such_package"):
        rules["dangling"]


def test_lazy_registration_without_description_fails_the_plugin(tmp_path: Path) -> None:
    """Listing a lazy entry must not import it, so its description has to be declared."""
    folder = tmp_path / "plugins"
    folder.mkdir()
    (folder / "undescribed.py").write_text(
        "from relscope.core import hookimpl, lazy\n\n"
        "@hookimpl\n"
        "def register_rules(register):\n"
        "    register('undescribed', lazy('relscope.plugins.rules.linear_rules:Epsilon'))\n"
    )
    pm = get_plugin_manager(plugins_dir=folder, strict=False)
    assert "undescribed" not in pm.registry("rules")
    status = pm.status_of("file:undescribed")
    assert status is not None and status.status == "failed"
    assert "needs a description" in (status.error or "")


def test_thread_limit_covers_a_runtime_loaded_inside_it() -> None:
    """``--threads`` limits OpenMP even though scikit-learn now loads after the limit is set
    (threadpoolctl alone only limits runtimes already loaded: t-SNE then ran on every core)."""
    source = (
        "import json, os\n"
        "from relscope.core.analysis.thread_limits import limit_threads\n"
        "with limit_threads(1):\n"
        "    import sklearn.cluster  # brings the OpenMP runtime\n"
        "    from threadpoolctl import threadpool_info\n"
        "    inside = [lib['num_threads'] for lib in threadpool_info()]\n"
        "print(json.dumps({'inside': inside, 'after': os.environ.get('OMP_NUM_THREADS')}))\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.endswith("_NUM_THREADS")}
    done = subprocess.run(
        [sys.executable, "-c", source], capture_output=True, text=True, env=env, timeout=300
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["inside"] and set(report["inside"]) == {1}
    assert report["after"] is None  # the variables are restored
