"""What the benchmark runs on: the CPU, the libraries, and which BLAS kernel NumPy uses.

OpenBLAS picks its kernel for the CPU it finds, unless OPENBLAS_CORETYPE names one:
some machines set OPENBLAS_CORETYPE=Haswell (and OPENBLAS_L2_SIZE) as a workaround for
older OpenBLAS builds, which makes NumPy run AVX2 kernels on an AVX-512 CPU while
PyTorch's oneDNN still uses AVX-512 — the matmul peak, and every "% of peak", is then
against roughly half of what the machine can do. The benchmark says which kernel ran and
which of these variables were set, so that its table can be read for what it is. To
measure with the CPU's own kernel, unset them for that one command:

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE volnet bench

threadpoolctl (an optional dependency of the benchmark) reports the kernel; without it
the kernel is "unknown".
"""

from __future__ import annotations

import importlib.metadata
import os
import platform

# environment variables that change which kernel OpenBLAS runs, or how it tiles
KERNEL_VARIABLES = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            return next(line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name"))
    except (OSError, StopIteration):
        return platform.processor() or "unknown"


def cpu_flags() -> set[str]:
    """The CPU's feature flags (Linux), e.g. {"avx2", "avx512f", ...}; empty elsewhere."""
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            return set(next(line.split(":", 1)[1].split() for line in cpuinfo if line.startswith("flags")))
    except (OSError, StopIteration):
        return set()


def package_version(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def blas() -> dict:
    """NumPy's BLAS: {"library", "version", "kernel", "threads", "path"} from threadpoolctl
    (None values where it is not installed or reports no BLAS), and {"environment"}: the
    KERNEL_VARIABLES that are set, with their values."""
    found = {"library": None, "version": None, "kernel": None, "threads": None, "path": None}
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        pass
    else:
        pool = next((pool for pool in threadpool_info() if pool.get("user_api") == "blas"), None)
        if pool is not None:
            found = {"library": pool.get("internal_api"), "version": pool.get("version"),
                     "kernel": pool.get("architecture"), "threads": pool.get("num_threads"),
                     "path": pool.get("filepath")}
    found["environment"] = {name: os.environ[name] for name in KERNEL_VARIABLES if name in os.environ}
    return found


def describe_blas(info: dict, cpu_has_avx512: bool) -> list[str]:
    """The header lines for NumPy's BLAS, with how to run the CPU's own kernel when the
    environment forces another one."""
    if info["library"] is None:
        lines = ["NumPy's BLAS: unknown (pip install threadpoolctl to see the library and its kernel)"]
    else:
        lines = [f"NumPy's BLAS: {info['library']} {info['version']}, kernel {info['kernel'] or 'unknown'}, "
                 f"{info['threads']} threads"]
    if info["environment"]:
        settings = " ".join(f"{name}={value}" for name, value in info["environment"].items())
        unset = " ".join(f"-u {name}" for name in info["environment"])
        forced = ("; this CPU has AVX-512, so the matmul peak and every % of it below are against the forced "
                  "kernel, not the CPU's own" if cpu_has_avx512 and "OPENBLAS_CORETYPE" in info["environment"]
                  else "")
        lines.append(f"the environment sets {settings}{forced}. For the CPU's own kernel: "
                     f"env {unset} volnet bench")
    return lines
