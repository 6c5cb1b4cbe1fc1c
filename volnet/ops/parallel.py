"""The one seam for CPU plumbing: chunks of the batch, worker threads, BLAS's thread count.

The fast ops are maths that hand their loop body to this module:

    map_batch(body, N, numbers_per_example)   the batch cut into chunks of whole examples that
                                              fit in cache (CHUNK_NUMBERS), spread over the cores
    map_split(body, length, parts)            range(length) cut into `parts` even slices (a
                                              matrix's columns, the halves of a copy), spread likewise
    @one_blas_thread                          the op runs with NumPy's BLAS held at one thread

Why chunks: each chunk of an op (an im2col matrix, Winograd's transformed tiles, a pass of
pooling or batch norm) is written and read again while it is in cache. How big: about
CHUNK_NUMBERS[kind] numbers in the chunk's largest array, sizes measured per kind
(docs/performance.md items 1, 7 and 15).

Why threads of our own: the matrix versions of convolution do, per chunk, a copy, a matrix
multiply and some elementwise work. Giving every chunk all cores inside BLAS leaves the
copies and the elementwise work on one core, and makes every one of the many small matrix
multiplies wait for all its threads — which, on a machine that other programs also use, can
stall each multiply for a whole scheduler time slice. Instead, the calling thread and
cores − 1 pool threads take whole chunks and run them with single-threaded BLAS; NumPy
releases the GIL inside copies, ufuncs and BLAS, so the threads run in parallel and never
wait for each other until the op is done.

Why every op holds BLAS at one thread (`one_blas_thread`, a decorator on every public fast op
in volnet.ops, and entered by map_chunks): OpenBLAS's own helper threads, once woken by a
multi-threaded multiply, spin on a core for about 2²⁸ cycles (≈ 0.1 s,
OPENBLAS_THREAD_TIMEOUT) before they sleep; inside a training step that woken helper took a
core from the workers of every layer after it (measured: the small Fashion-MNIST net's
step 91–105 ms with it, 59 ms without). The multiplies an op makes outside its chunks (the
Winograd filter transforms, a small Linear's one multiply) would wake it, so the hold covers
each op's whole work. So, with OpenBLAS, volnet never asks BLAS for more than one thread and
spreads the work over the cores itself. The thread count is a setting of the whole process:
while an op runs, multiplies made by other threads of the program are single-threaded too,
and the count is put back to what it was when the first hold began. With another BLAS (MKL,
Accelerate) nothing is held and map_chunks is a plain loop.
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
    """Context manager (and decorator): BLAS runs one thread inside, and gets its thread count
    back after the outermost exit. Re-entrant, from any number of threads (a count of holders)."""

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

    def __call__(self, op):
        """As a decorator: the op runs inside the hold."""

        @functools.wraps(op)
        def held(*args, **kwargs):
            with self:
                return op(*args, **kwargs)

        held.holds_one_blas_thread = True
        return held


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


# How many numbers one chunk holds in its largest array, by what the chunk does:
#   "matrix": im2col rows, written once and then read by one matrix multiply (2¹⁹ was best on
#             the reference shapes; 2¹⁸ and 2²⁰ slower, docs/performance.md item 1);
#   "stream": a few passes over the same numbers (pooling, batch norm, activations, Winograd's
#             transformed tiles).
CHUNK_NUMBERS = {"matrix": 1 << 19, "stream": 1 << 18}


def batch_slices(n_examples: int, numbers_per_example: int, chunk_numbers: int) -> list[slice]:
    """The batch cut into slices of whole examples, each holding about chunk_numbers numbers."""
    step = max(1, min(n_examples, chunk_numbers // max(numbers_per_example, 1)))
    return [slice(start, min(start + step, n_examples)) for start in range(0, n_examples, step)]


def batch_chunks(n_examples: int, numbers_per_example: int, kind: str = "stream") -> list[slice]:
    """The batch cut into chunks of whole examples of about CHUNK_NUMBERS[kind] numbers each
    (for an op that makes several passes over the same chunks: map_chunks on each)."""
    return batch_slices(n_examples, numbers_per_example, CHUNK_NUMBERS[kind])


def map_batch(body, n_examples: int, numbers_per_example: int, kind: str = "stream") -> list:
    """[body(chunk) for each chunk of the batch], the chunks spread over the cores (map_chunks).

    Args:
        body: called with a slice of whole examples (rows); returns a partial result or None.
        n_examples: N, the length of the axis that is cut.
        numbers_per_example: the numbers one example puts in the chunk's largest array.
        kind: "matrix" or "stream", the chunk size (CHUNK_NUMBERS).
    """
    return map_chunks(body, batch_chunks(n_examples, numbers_per_example, kind))


def map_split(body, length: int, parts: int | None = None) -> list:
    """[body(part) for part in even_slices(length, parts)] over the cores; parts defaults to
    one per worker (worker_count)."""
    return map_chunks(body, even_slices(length, worker_count() if parts is None else parts))


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
