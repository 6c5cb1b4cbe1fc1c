"""How the benchmark measures: medians of repeated runs after a warm-up, and the machine's
float32 matrix-multiply peak. (The thread count is volnet.ops.parallel.blas_threads.)

Every figure in the benchmark is a median over `repeats` runs that follow `warmup` runs
(the warm-up lets caches, allocators and volnet's per-layer algorithm choice settle).
"""

from __future__ import annotations

import time

import numpy as np


def median_seconds(function, repeats: int = 7, warmup: int = 2) -> float:
    """The median wall time of function() over `repeats` calls, after `warmup` untimed calls."""
    for _ in range(warmup):
        function()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def matmul_peak(size: int = 2048, repeats: int = 7) -> float:
    """The machine's float32 GFLOP/s on one large square matrix multiply (2·n³ flops)."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((size, size), dtype=np.float32)
    b = rng.standard_normal((size, size), dtype=np.float32)
    out = np.empty_like(a)
    seconds = median_seconds(lambda: np.matmul(a, b, out=out), repeats=repeats, warmup=2)
    return 2 * size**3 / seconds / 1e9
