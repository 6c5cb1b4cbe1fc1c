# Helpers for the hostile-input suites: whatever could allocate without bound runs in a child
# process under a memory cap (RLIMIT_AS) and a time limit, so that a regression fails fast
# (a MemoryError or a timeout in the child) instead of taking the machine down.

import json
import os
import resource
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
MEMORY_CAP = 3 * 2**30  # address space: NumPy, Pillow and the test's own files fit well within it


def _cap_memory():
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_CAP, MEMORY_CAP))


def run_capped(arguments, seconds: float, cwd=None) -> subprocess.CompletedProcess:
    """Run `python arguments...` with volnet importable, under MEMORY_CAP and `seconds`."""
    environment = {**os.environ, "PYTHONPATH": str(ROOT), "OPENBLAS_NUM_THREADS": "1", "VOLNET_WINOGRAD": "0",
                   "MPLBACKEND": "Agg"}
    environment.pop("VOLNET_MEMORY_BUDGET", None)  # the default budget, whatever the caller's shell says
    return subprocess.run([sys.executable, *map(str, arguments)], capture_output=True, text=True, timeout=seconds,
                          env=environment, cwd=cwd or ROOT, preexec_fn=_cap_memory)


@pytest.fixture
def capped():
    return run_capped


@pytest.fixture
def cases_run(tmp_path):
    """Run tests/hostile/cases.py's cases of one suite in one capped child; {case: (error type, message)}."""
    def run(suite: str, seconds: float = 120):
        done = run_capped([Path(__file__).with_name("cases.py"), suite, tmp_path], seconds)
        assert done.returncode == 0, done.stderr[-3000:]
        return {row["case"]: (row["type"], row["message"]) for row in map(json.loads, done.stdout.splitlines())}
    return run


@pytest.fixture(scope="session")
def run_folder(tmp_path_factory):
    """A finished `volnet train` run of a one-layer net (with dropout) on 64 sample images: seconds.
    Tests may read it; those that change it work on a copy."""
    from volnet.cli.main import main

    folder = tmp_path_factory.mktemp("run") / "run"
    assert main(["train", "--arch", "dropout0.1 fc10", "--limit", "64", "--epochs", "2", "--val-fraction", "0.25",
                 "--batch-size", "16", "--out", str(folder), "--quiet"]) == 0
    return folder
