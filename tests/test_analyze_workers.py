"""``relscope analyze --workers N``: categories analysed in fresh local processes give the serial
run's file array for array; a failing category or a dying worker stops the run with one line and
writes nothing; the option refuses to be combined with a Dask cluster."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap

import pytest

from relscope.core.cli.main import main
from relscope.core.data.analysis import read_analysis
from tests.analysis_support import (
    CATEGORIES,
    analyze_arguments,
    assert_same_analysis,
    write_digits_attributions,
)

#: Laplacian steps that fail on purpose: the first one to run anywhere with relscope's own error
#: (a marker file decides), or every one by killing its worker process
FAILING = textwrap.dedent(
    """
    import os, signal

    from relscope.core import hookimpl
    from relscope.core.errors import ProcessorError
    from relscope.plugins.processors.laplacians import SymmetricLaplacian


    class RefusingLaplacian(SymmetricLaplacian):
        def function(self, data):
            try:
                os.close(os.open(os.environ["RELSCOPE_TEST_MARKER"], os.O_CREAT | os.O_EXCL))
            except FileExistsError:
                return super().function(data)
            raise ProcessorError("RefusingLaplacian: planted failure")


    class DyingLaplacian(SymmetricLaplacian):
        def function(self, data):
            os.kill(os.getpid(), signal.SIGKILL)


    @hookimpl
    def register_processors(register):
        register("refusing_laplacian", RefusingLaplacian)
        register("dying_laplacian", DyingLaplacian)
    """
)


@pytest.fixture(scope="module")
def attributions(tmp_path_factory):
    return write_digits_attributions(tmp_path_factory.mktemp("analyze-workers"))


@pytest.fixture(scope="module")
def serial(attributions):
    out = attributions / "serial.h5"
    assert main(analyze_arguments(attributions, out, "--quiet")) == 0
    return read_analysis(out)


def _run_with_failing_plugins(arguments: list[str], folder, **environment: str):
    """The command in a fresh interpreter that finds the failing processors (and whose worker
    processes inherit the plugin folder)."""
    plugins = folder / "plugins"
    plugins.mkdir()
    (plugins / "failing.py").write_text(FAILING)
    env = dict(os.environ, RELSCOPE_PLUGINS_DIR=str(plugins), **environment)
    return subprocess.run(
        [sys.executable, "-m", "relscope.core.cli", *arguments],
        capture_output=True, text=True, timeout=300, env=env,
    )  # fmt: skip


def test_two_worker_processes_equal_the_serial_run(attributions, serial, tmp_path, capsys):
    out = tmp_path / "workers.h5"
    assert main(analyze_arguments(attributions, out, "--workers", "2")) == 0
    err = capsys.readouterr().err
    pids = re.findall(r"points in [\d.]+ s on .* pid (\d+) \(\d+/10 done\)", err)
    assert len(pids) == CATEGORIES
    assert len(set(pids)) == 2 and str(os.getpid()) not in pids  # two fresh processes
    assert_same_analysis(read_analysis(out), serial)


def test_a_failing_category_stops_the_run_naming_it(attributions, serial, tmp_path):
    out = tmp_path / "workers.h5"
    task = ["--task", "laplacian=refusing_laplacian", "--quiet"]
    result = _run_with_failing_plugins(
        analyze_arguments(attributions, out, "--workers", "2", *task),
        tmp_path,
        RELSCOPE_TEST_MARKER=str(tmp_path / "refused"),
    )
    err = result.stderr
    assert result.returncode == 2 and err.count("\n") == 1, err
    named = re.search(r"category (\S+): RefusingLaplacian: planted failure$", err.strip())
    assert named and named.group(1) in serial.categories, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plugins", "refused"]  # no output


def test_a_dying_worker_stops_the_run_with_one_line(attributions, tmp_path):
    out = tmp_path / "workers.h5"
    task = ["--task", "laplacian=dying_laplacian", "--quiet"]
    result = _run_with_failing_plugins(
        analyze_arguments(attributions, out, "--workers", "2", *task), tmp_path
    )
    assert result.returncode == 2 and result.stderr.count("\n") == 1, result.stderr
    assert "a worker process died" in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plugins"]  # no output


def test_workers_and_a_dask_cluster_are_not_combined(attributions, tmp_path, capsys):
    out = tmp_path / "workers.h5"
    arguments = analyze_arguments(attributions, out, "--workers", "2", "--dask-workers", "2")
    assert main(arguments) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--workers" in err and "Dask" in err
    assert not out.exists()
