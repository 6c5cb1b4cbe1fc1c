"""Running a layer's chunks of the batch on all cores, one BLAS thread per chunk.

The matrix versions of convolution cut the batch into chunks (so that each chunk's im2col
matrix stays in cache) and do, per chunk, a copy, a matrix multiply and some elementwise
work. Giving every chunk all cores inside BLAS leaves the copies and the elementwise work
on one core, and makes every one of the many small matrix multiplies wait for all its
threads — which, on a machine that other programs also use, can stall each multiply for a
whole scheduler time slice. Instead, each of `cores` Python threads takes whole chunks and
runs them with single-threaded BLAS; NumPy releases the GIL inside copies, ufuncs and BLAS,
so the threads run in parallel and never wait for each other until the layer is done.
"""

from __future__ import annotations

import contextvars
import ctypes
import functools
import os
import re
import threading
from concurrent.futures import ThreadPoolExecutor

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


def blas_threads() -> int:
    """How many threads NumPy's BLAS uses for one matrix multiply (the cores volnet uses)."""
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


def map_chunks(function, chunks) -> list:
    """[function(chunk) for chunk in chunks], spread over BLAS's cores with one BLAS thread each.

    With one core, another BLAS than OpenBLAS, one chunk, or while another call is running
    (from inside a worker, or from another thread), it is the plain loop. Results come back in the order of `chunks`.
    """
    cores = blas_threads()
    if cores <= 1 or len(chunks) <= 1 or _openblas() is None or not _LOCK.acquire(blocking=False):
        return [function(chunk) for chunk in chunks]
    try:
        if cores not in _POOLS:
            _POOLS[cores] = ThreadPoolExecutor(cores, thread_name_prefix="volnet")
        _set_blas_threads(1)
        try:
            # each worker runs in a copy of the caller's context, so np.errstate reaches it
            context = contextvars.copy_context()
            return list(_POOLS[cores].map(lambda chunk: context.copy().run(function, chunk), chunks))
        finally:
            _set_blas_threads(cores)
    finally:
        _LOCK.release()
