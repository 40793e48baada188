"""``relscope analyze`` on a Dask cluster: 2 worker processes give the serial run's analysis file
array for array, workers share the cache with serial runs, a worker killed mid-run loses and
duplicates no category, and Dask stays an optional import."""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import sys
import textwrap
from collections import Counter

import pytest

from relscope.core.analysis import Store
from relscope.core.cli.main import main
from relscope.core.data.analysis import read_analysis
from tests.analysis_support import (
    CATEGORIES,
    analyze_arguments,
    assert_same_analysis,
    write_digits_attributions,
)

distributed = pytest.importorskip("distributed")

#: a plugin whose Laplacian step (a task without pipeline parameters, so the replacement computes
#: exactly the default) kills its own worker process the first time it runs anywhere (a marker
#: file decides), and logs every run: "<pid> <digest of its input>"
KILL_ONCE = textwrap.dedent(
    """
    import hashlib, os, signal

    import scipy.sparse as sp

    from relscope.core import hookimpl
    from relscope.plugins.processors.laplacians import SymmetricLaplacian


    class KillOnceLaplacian(SymmetricLaplacian):
        def function(self, data):
            marker = os.environ["RELSCOPE_TEST_KILL_MARKER"]
            digest = hashlib.sha256(sp.csr_matrix(data).toarray().tobytes()).hexdigest()[:16]
            with open(marker + ".log", "a") as log:
                log.write(f"{os.getpid()} {digest}\\n")
            try:
                os.close(os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
            except FileExistsError:
                return super().function(data)
            os.kill(os.getpid(), signal.SIGKILL)


    @hookimpl
    def register_processors(register):
        register("kill_once_laplacian", KillOnceLaplacian)
    """
)

#: the serial reference, run in a fresh interpreter that then reports which modules it imported
SERIAL = textwrap.dedent(
    """
    import json, sys
    from relscope.core.cli.main import main
    code = main(sys.argv[1:])
    loaded = sorted(m for m in sys.modules if m.split(".")[0] in ("dask", "distributed"))
    print(json.dumps({"code": code, "dask_modules": loaded}))
    """
)


@pytest.fixture(scope="module")
def attributions(tmp_path_factory):
    return write_digits_attributions(tmp_path_factory.mktemp("dask-analyze"))


@pytest.fixture(scope="module")
def serial(attributions):
    """The serial analysis, in a fresh interpreter: it must not import Dask."""
    out = attributions / "serial.h5"
    result = subprocess.run(
        [sys.executable, "-c", SERIAL, *analyze_arguments(attributions, out, "--quiet")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report == {"code": 0, "dask_modules": []}
    return read_analysis(out)


def test_two_local_workers_equal_the_serial_run_and_fill_the_shared_cache(
    attributions, serial, tmp_path, capsys
):
    cache = tmp_path / "cache.h5"
    out = tmp_path / "dask.h5"
    code = main(analyze_arguments(attributions, out, "--dask-workers", "2", "--cache", str(cache)))
    err = capsys.readouterr().err
    assert code == 0, err
    assert "on a Dask cluster of 2 workers" in err
    assert len(re.findall(r"points in [\d.]+ s on .* pid (\d+)", err)) == CATEGORIES
    assert_same_analysis(read_analysis(out), serial)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cache.h5", "cache.h5.lock", "dask.h5"]

    # both workers wrote into the one cache: a serial run now computes nothing
    entries = len(Store(cache).keys())
    assert entries >= CATEGORIES * 8  # every step of every category
    again = tmp_path / "again.h5"
    assert main(analyze_arguments(attributions, again, "--cache", str(cache), "--verbose")) == 0
    lines = capsys.readouterr().err.splitlines()
    statuses = [m.group(1) for m in map(re.compile(r": (cached|[\d.]+ s)$").search, lines) if m]
    assert statuses and set(statuses) == {"cached"}
    assert len(Store(cache).keys()) == entries
    assert_same_analysis(read_analysis(again), serial)


def test_a_killed_worker_neither_loses_nor_duplicates_a_category(
    attributions, serial, tmp_path, monkeypatch
):
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "kill_once.py").write_text(KILL_ONCE)
    marker = tmp_path / "killed"
    monkeypatch.setenv("RELSCOPE_PLUGINS_DIR", str(plugins))  # workers inherit the environment
    monkeypatch.setenv("RELSCOPE_TEST_KILL_MARKER", str(marker))
    out = tmp_path / "dask.h5"
    with distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address=None,
        silence_logs=logging.ERROR,
    ) as cluster:
        result = subprocess.run(
            [sys.executable, "-m", "relscope.core.cli",
             *analyze_arguments(attributions, out, "--scheduler", cluster.scheduler_address,
                       "--task", "laplacian=kill_once_laplacian")],
            capture_output=True, text=True, timeout=300, env=dict(os.environ),
        )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert marker.exists()  # a worker did kill itself
    runs = [line.split() for line in (tmp_path / "killed.log").read_text().splitlines()]
    per_category = Counter(digest for _, digest in runs)
    assert len(per_category) == CATEGORIES
    retried = [digest for digest, count in per_category.items() if count == 2]
    assert len(retried) == 1 and sum(per_category.values()) == CATEGORIES + 1
    pids = {pid for pid, digest in runs if digest == retried[0]}
    assert len(pids) == 2  # the retry ran in another process
    assert_same_analysis(read_analysis(out), serial)  # each category once, as computed serially


@pytest.mark.parametrize(
    "option", [["--dask-workers", "2"], ["--scheduler", "tcp://127.0.0.1:1"]], ids=lambda o: o[0]
)
def test_without_dask_the_cluster_options_name_the_extra(
    attributions, tmp_path, monkeypatch, capsys, option
):
    monkeypatch.setitem(sys.modules, "distributed", None)  # as if the extra were not installed
    out = tmp_path / "dask.h5"
    assert main(analyze_arguments(attributions, out, *option)) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert f"{option[0]} needs Dask" in err and "pip install 'relscope[distributed]'" in err
    assert not out.exists()
