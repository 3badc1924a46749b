"""One workflow at a time writes into a results folder: the lock names the other process and dies with it."""

import os
import signal
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from air_core.errors import ConfigError
from air_core.results_dir import claim_results_dir
from air_core.results_lock import holder, lock_results_dir
from tests import helpers

ROOT = Path(__file__).resolve().parents[1]


def _hold(results: Path, cwd: Path, child: bool = False) -> subprocess.Popen:
    """A process that claims and locks ``results`` as the workflow's onstart does, then waits (with a child
    process of its own, as a job would be, when ``child``)."""
    cwd.mkdir(parents=True, exist_ok=True)
    code = textwrap.dedent(
        f"""
        import subprocess, sys, time
        from air_core.results_dir import claim_results_dir
        from air_core.results_lock import lock_results_dir
        claim_results_dir({str(results)!r})
        lock_results_dir({str(results)!r})
        if {child}:
            job = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
            print(job.pid, flush=True)
        print("locked", flush=True)
        time.sleep(120)
        """
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code],
        cwd=cwd,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    return proc


def _wait_locked(proc: subprocess.Popen) -> list[str]:
    lines = []
    while not lines or lines[-1] != "locked":
        line = proc.stdout.readline().strip()
        assert line or proc.poll() is None, "the holder ended before it took the lock"
        lines.append(line)
    return lines


def _lock_in_a_fresh_process(results: Path) -> subprocess.CompletedProcess:
    code = f"from air_core.results_lock import lock_results_dir; lock_results_dir({str(results)!r}); print('ok')"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)


def test_a_second_workflow_is_refused_naming_the_folder_and_the_other_process(tmp_path):
    results = tmp_path / "results"
    other = _hold(results, tmp_path / "other workdir")
    try:
        _wait_locked(other)
        with pytest.raises(ConfigError) as refused:
            lock_results_dir(results)
        message = str(refused.value)
        assert f"results_dir '{results}' is in use" in message
        assert f"pid {other.pid} on host {socket.gethostname()}" in message
        assert f"working directory {tmp_path / 'other workdir'}" in message
        assert holder(results) is not None and f"pid {other.pid}" in holder(results)
    finally:
        other.kill()
        other.wait()


def test_a_killed_holder_leaves_no_stale_lock_even_while_its_jobs_run(tmp_path):
    results = tmp_path / "results"
    other = _hold(results, tmp_path / "w", child=True)
    job = int(_wait_locked(other)[0])
    try:
        os.kill(other.pid, signal.SIGKILL)  # the workflow dies; its job process lives on
        other.wait()
        os.kill(job, 0)  # still running
        assert holder(results) is None
        proc = _lock_in_a_fresh_process(results)
        assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr
    finally:
        os.kill(job, signal.SIGKILL)


def test_the_lock_is_taken_again_by_the_same_process_and_a_file_left_behind_is_free(tmp_path):
    results = claim_results_dir(tmp_path / "results")
    assert _lock_in_a_fresh_process(results).returncode == 0  # it ended: its lock file stays, the lock does not
    assert (results / ".air" / "lock").is_file() and holder(results) is None
    assert _lock_in_a_fresh_process(results).returncode == 0


@pytest.mark.workflow
def test_snakemake_from_a_second_directory_stops_before_any_job(tmp_path):
    """The example: the same config (absolute results_dir) run from a second --directory while the first runs."""
    results = tmp_path / "shared results"
    other = _hold(results, tmp_path / "first")
    try:
        _wait_locked(other)
        second = tmp_path / "second"
        second.mkdir()
        proc = helpers.snakemake(second, helpers.tiny_config(results))
        out = proc.stdout + proc.stderr
        assert proc.returncode != 0
        assert f"results_dir '{results}' is in use" in out and f"pid {other.pid}" in out, out[-3000:]
        assert not (results / "logs").exists() and not (results / "shapes").exists()  # no job started
    finally:
        other.kill()
        other.wait()
