"""volnet against PyTorch on the same machine: layers, training steps and peak memory.

    volnet bench [--quick] [--json FILE]        python -m volnet.bench [...]

In one process, volnet and PyTorch (if installed) run the same computations on the same
float32 inputs with the same number of threads (PyTorch gets as many as NumPy's BLAS uses).
Each figure is the median of repeated runs after a warm-up; GFLOP/s are set against the
float32 matrix-multiply peak measured in the same run, so that every speed is also a
fraction of what the machine can do. Peak memory of a training step is measured for each
framework in a process of its own (volnet.bench.memory). PyTorch is imported here only.
The header says which algorithm volnet's 3×3 stride-1 layers used: Winograd F(2×2, 3×3)
when numba is installed (volnet/ops/conv_winograd.py), im2col otherwise; and which BLAS library
and kernel NumPy runs, with the thread counts (volnet.bench.machine: an environment that
forces OpenBLAS's kernel is named, with the command that measures the CPU's own).
"""

from __future__ import annotations

import datetime
import json
import os
import platform

import numpy as np

from volnet.bench import machine
from volnet.bench.cases import layer_cases
from volnet.bench.memory import measure_in_subprocess
from volnet.bench.report import table
from volnet.bench.steps import NETS, step_cases
from volnet.bench.timing import matmul_peak, median_seconds
from volnet.ops import conv
from volnet.ops.parallel import blas_threads


def import_torch(threads: int):
    """PyTorch set to `threads` threads, or None when it is not installed."""
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(threads)
    return torch


def run_benchmark(quick: bool = False, memory: bool = True, only: str | None = None, log=print) -> dict:
    """Time every case (or those whose name contains `only`) and return the results as a dict.

    Args:
        quick: fewer repeats and peak memory of the small net only: well under a minute.
        memory: measure the peak memory of the training steps (two subprocesses per net).
        log: called with a line of progress per case (print, or a no-op).
    """
    threads = blas_threads()
    torch = import_torch(threads)
    repeats, warmup = (3, 1) if quick else (9, 2)
    results = {
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "machine": {"cpu": machine.cpu_name(), "cores": os.cpu_count(), "python": platform.python_version(),
                    "numpy": np.__version__, "torch": torch.__version__ if torch else None,
                    "numba": machine.package_version("numba"), "avx512": "avx512f" in machine.cpu_flags()},
        "blas": machine.blas(), "torch_threads": torch.get_num_threads() if torch else None,
        "winograd": conv.winograd_in_use(), "winograd_min_depth": conv.WINOGRAD_MIN_DEPTH,
        "threads": threads, "torch": torch is not None, "quick": quick, "repeats": repeats, "warmup": warmup,
        "load_average": list(os.getloadavg()),
        "matmul_peak_gflops": matmul_peak(repeats=repeats),
        "rows": [], "memory": [],
    }
    for case in layer_cases(torch is not None) + step_cases(torch is not None):
        if only and only not in case.name:
            continue
        agreement = case.agreement() if case.agreement else None  # before any step changes the weights
        volnet_seconds = median_seconds(case.volnet, repeats, warmup)
        torch_seconds = median_seconds(case.torch, repeats, warmup) if case.torch else None
        row = {
            "name": case.name, "group": case.group, **case.extra,
            "volnet_ms": 1e3 * volnet_seconds, "torch_ms": None if torch_seconds is None else 1e3 * torch_seconds,
            "ratio": None if torch_seconds is None else volnet_seconds / torch_seconds,
            "gflop": None if case.flops is None else case.flops / 1e9,
            "volnet_gflops": None if case.flops is None else case.flops / volnet_seconds / 1e9,
            "torch_gflops": None if case.flops is None or torch_seconds is None else case.flops / torch_seconds / 1e9,
            "agreement": agreement,
        }
        results["rows"].append(row)
        log(f"  {row['name']}: volnet {row['volnet_ms']:.1f} ms" +
            ("" if torch_seconds is None else f", PyTorch {row['torch_ms']:.1f} ms"))
    if memory:
        for name, spec, input_shape in NETS[:1] if quick else NETS:
            if only and only not in f"train step {name}":
                continue
            volnet_peak = measure_in_subprocess("volnet", spec, input_shape)
            torch_peak = measure_in_subprocess("torch", spec, input_shape) if torch else None
            results["memory"].append({
                "name": name, "spec": spec, "volnet_mib": volnet_peak["peak_mib"],
                "torch_mib": torch_peak["peak_mib"] if torch_peak else None,
                "ratio": torch_peak and volnet_peak["peak_mib"] / torch_peak["peak_mib"],
                "parameters": volnet_peak["parameters"], "method": volnet_peak["method"],
                "volnet_kernels_mib": volnet_peak["kernels_mib"],
            })
            log(f"  peak memory {name}: volnet {volnet_peak['peak_mib']:.1f} MiB" +
                ("" if torch_peak is None else f", PyTorch {torch_peak['peak_mib']:.1f} MiB"))
    return results


def write_json(results: dict, path) -> None:
    with open(path, "w") as out:
        json.dump(results, out, indent=2)
        out.write("\n")


__all__ = ["import_torch", "run_benchmark", "table", "write_json"]
