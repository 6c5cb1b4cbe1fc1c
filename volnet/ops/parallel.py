"""Running a layer's chunks of the batch on all cores, one BLAS thread per chunk.

The matrix versions of convolution cut the batch into chunks (so that each chunk's im2col
matrix stays in cache) and do, per chunk, a copy, a matrix multiply and some elementwise
work. Giving every chunk all cores inside BLAS leaves the copies and the elementwise work
on one core, and makes every one of the many small matrix multiplies wait for all its
threads — which, on a machine that other programs also use, can stall each multiply for a
whole scheduler time slice. Instead, the calling thread and cores − 1 pool threads take
whole chunks and run them with single-threaded BLAS; NumPy releases the GIL inside copies, ufuncs and BLAS,
so the threads run in parallel and never wait for each other until the layer is done.

While a layer computes, NumPy's OpenBLAS is also held at one thread (`one_blas_thread`,
entered by every layer's forward and backward). OpenBLAS's own helper threads, once woken
by a multi-threaded multiply, spin on a core for about 2²⁸ cycles (≈ 0.1 s,
OPENBLAS_THREAD_TIMEOUT) before they sleep; inside a training step that woken helper took a
core from the workers of every layer after it (measured: the small Fashion-MNIST net's
step 91–105 ms with it, 59 ms without). So, with OpenBLAS, volnet never asks BLAS for more
than one thread and spreads the work over the cores itself. The thread count is a setting
of the whole process: while a layer runs, multiplies made by other threads of the program
are single-threaded too, and the count is put back to what it was when the first hold
began. With another BLAS (MKL, Accelerate) nothing is held and map_chunks is a plain loop.
"""

from __future__ import annotations

import contextvars
import ctypes
import functools
import itertools
import os
import re
import threading
from concurrent.futures import ThreadPoolExecutor, wait

import numpy  # noqa: F401  (loads the BLAS that _openblas looks for)


@functools.cache
def _openblas():
    """NumPy's OpenBLAS (ctypes handle, symbol prefix and suffix), or None with another BLAS."""
    try:
        with open("/proc/self/maps") as maps:
            paths = sorted(set(re.findall(r"(/\S*openblas\S*\.so\S*)", maps.read())))
    except OSError:
        return None
    for path in paths:
        library = ctypes.CDLL(path)
        for prefix, suffix in (("scipy_openblas_", "64_"), ("openblas_", "64_"), ("openblas_", "")):
            if hasattr(library, f"{prefix}get_num_threads{suffix}"):
                return library, prefix, suffix
    return None


_LOCK = threading.Lock()
_POOLS: dict[int, ThreadPoolExecutor] = {}


class _OneBlasThread:
    """Context manager: BLAS runs one thread inside, and gets its thread count back after the
    outermost exit. Re-entrant, from any number of threads (a count of holders)."""

    def __init__(self):
        self._lock = threading.Lock()
        self.holders = 0
        self.cores = 1  # BLAS's thread count when the outermost hold began

    def __enter__(self):
        with self._lock:
            if self.holders == 0 and _openblas() is not None:
                self.cores = _blas_threads_now()
                _set_blas_threads(1)
            self.holders += 1

    def __exit__(self, *exc):
        with self._lock:
            self.holders -= 1
            if self.holders == 0 and _openblas() is not None:
                _set_blas_threads(self.cores)


one_blas_thread = _OneBlasThread()


def blas_threads() -> int:
    """How many threads NumPy's BLAS uses for one matrix multiply (the cores volnet uses);
    while `one_blas_thread` holds BLAS at one, the count it will get back."""
    if one_blas_thread.holders and _openblas() is not None:
        return one_blas_thread.cores
    return _blas_threads_now()


def _blas_threads_now() -> int:
    blas = _openblas()
    if blas is not None:
        library, prefix, suffix = blas
        return int(getattr(library, f"{prefix}get_num_threads{suffix}")())
    for variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        if os.environ.get(variable, "").isdigit():
            return int(os.environ[variable])
    return os.cpu_count() or 1


def _set_blas_threads(count: int):
    library, prefix, suffix = _openblas()
    getattr(library, f"{prefix}set_num_threads{suffix}")(count)


def batch_slices(n_examples: int, numbers_per_example: int, chunk_numbers: int) -> list[slice]:
    """The batch cut into slices of whole examples, each holding about chunk_numbers numbers."""
    step = max(1, min(n_examples, chunk_numbers // max(numbers_per_example, 1)))
    return [slice(start, min(start + step, n_examples)) for start in range(0, n_examples, step)]


def worker_count() -> int:
    """How many threads map_chunks spreads chunks over: BLAS's cores with OpenBLAS, else 1."""
    return blas_threads() if _openblas() is not None else 1


def even_slices(n: int, parts: int) -> list[slice]:
    """range(n) cut into at most `parts` consecutive slices of nearly equal length."""
    parts = max(1, min(parts, n))
    bounds = [round(i * n / parts) for i in range(parts + 1)]
    return [slice(start, stop) for start, stop in zip(bounds, bounds[1:])]


def map_chunks(function, chunks) -> list:
    """[function(chunk) for chunk in chunks], spread over BLAS's cores with one BLAS thread each.

    The calling thread and cores − 1 pool threads each take the next chunk not yet taken
    until none is left (so a core slowed by another program simply takes fewer chunks),
    handing work over once per thread rather than once per chunk. With one core, another
    BLAS than OpenBLAS, one chunk, or while another call is running (from inside a worker,
    or from another thread), it is the plain loop (with OpenBLAS held at one thread too).
    Results come back in the order of `chunks`. If a chunk raises, no thread starts another
    chunk, and the error reaches the caller once every thread has stopped.
    """
    with one_blas_thread:
        cores = worker_count()
        if cores <= 1 or len(chunks) <= 1 or not _LOCK.acquire(blocking=False):
            return [function(chunk) for chunk in chunks]
        try:
            if cores not in _POOLS:
                _POOLS[cores] = ThreadPoolExecutor(cores - 1, thread_name_prefix="volnet")
            results = [None] * len(chunks)
            taken = itertools.count()  # next() on it is atomic: each index goes to one thread
            failed = threading.Event()  # after an error no thread starts another chunk

            def work():
                try:
                    while not failed.is_set() and (index := next(taken)) < len(chunks):
                        results[index] = function(chunks[index])
                except BaseException:
                    failed.set()
                    raise

            # pool threads run in a copy of the caller's context, so np.errstate reaches them
            context = contextvars.copy_context()
            helpers = [_POOLS[cores].submit(context.copy().run, work) for _ in range(min(cores, len(chunks)) - 1)]
            try:
                work()
            finally:
                wait(helpers)  # every thread has stopped before the lock and BLAS's threads are given back
            for helper in helpers:
                helper.result()  # re-raises a pool thread's error
            return results
        finally:
            _LOCK.release()
