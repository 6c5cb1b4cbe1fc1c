"""How the benchmark measures: medians of repeated runs after a warm-up, and the machine's
float32 matrix-multiply peak. (The thread count is volnet.ops.parallel.blas_threads.)

Every figure in the benchmark is a median over `repeats` runs that follow at least `warmup`
runs and at least WARMUP_SECONDS of them (the warm-up lets caches, allocators and threads
settle), for volnet and PyTorch alike.
"""

from __future__ import annotations

import time

import numpy as np


WARMUP_SECONDS = 0.25


def median_seconds(function, repeats: int = 7, warmup: int = 2, warmup_seconds: float = WARMUP_SECONDS) -> float:
    """The median wall time of function() over `repeats` calls, after untimed warm-up calls:
    at least `warmup` of them and at least `warmup_seconds` of them.

    The time floor is for short calls: on a virtual machine a thread that slept (volnet's
    second worker, between calls) wakes slowly for a while after the cores idled or ran the
    other framework's threads; two warm-up calls of 2 ms did not cover that, 0.25 s does
    (docs/performance.md, Results).
    """
    start = time.perf_counter()
    done = 0
    while done < warmup or time.perf_counter() - start < warmup_seconds:
        function()
        done += 1
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
