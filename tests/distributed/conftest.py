"""Running commands under mpiexec, shared by the distributed tests through the `mpi` fixture
(conftest is not importable); every test that takes it is skipped where MPI is missing."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

ROOT = Path(__file__).resolve().parents[2]
STEPS = Path(__file__).with_name("steps_worker.py")
# Open MPI refuses root and more ranks than cores unless told; MPICH ignores these variables
OPEN_MPI_PERMISSIONS = {"OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1",
                        "OMPI_MCA_rmaps_base_oversubscribe": "1"}


def mpi_environment(**extra) -> dict:
    """The environment for ranks: this volnet first on the path, one BLAS thread per rank (2 cores)."""
    environment = {**os.environ, **OPEN_MPI_PERMISSIONS, "OMP_NUM_THREADS": "1", "MPLBACKEND": "Agg",
                   "OMPI_MCA_btl_vader_single_copy_mechanism": "none", **extra}  # no CMA: containers forbid it
    environment["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    return environment


def command(ranks: int | None, arguments) -> list[str]:
    launcher = [] if ranks is None else ["mpiexec", "-n", str(ranks)]
    return [*launcher, sys.executable, *map(str, arguments)]


def run(ranks: int | None, *arguments, timeout: float = 300, **extra) -> subprocess.CompletedProcess:
    """Run `mpiexec -n ranks python ARGUMENTS...` to the end (the test fails after `timeout` seconds);
    ranks None runs `python ARGUMENTS...` alone, in the same environment (one BLAS thread)."""
    return subprocess.run(command(ranks, arguments), capture_output=True, text=True, timeout=timeout,
                          env=mpi_environment(**extra))


def start(ranks: int, *arguments, **extra) -> subprocess.Popen:
    """Start `mpiexec -n ranks python ARGUMENTS...` and return at once."""
    return subprocess.Popen(command(ranks, arguments), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=mpi_environment(**extra))


@pytest.fixture(scope="session")
def mpi():
    if shutil.which("mpiexec") is None or importlib.util.find_spec("mpi4py") is None:
        pytest.skip("needs mpiexec and mpi4py (pip install 'volnet[mpi]' and an MPI library)")
    return SimpleNamespace(run=run, start=start, steps=STEPS)
