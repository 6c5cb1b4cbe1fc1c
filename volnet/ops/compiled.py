"""The compiled loops of the memory-bound ops (stream_kernels.py), where numba is there.

numba is optional: without it, or where it is installed but cannot load (after one warning),
`stream_kernels()` is None and batch norm, ReLU and max pooling run their NumPy passes, with the
same results to rounding. numba is imported on the first call, not when volnet is, and compiles
each loop once per dtype on first use, then reads it from its on-disk cache.
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
import warnings

import numpy as np

# numba compiles the loops for these (native byte order) dtypes only
DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


@functools.cache
def stream_kernels():
    """The module volnet.ops.stream_kernels, or None when numba is missing or cannot load."""
    if importlib.util.find_spec("numba") is None:
        return None
    try:
        return importlib.import_module("volnet.ops.stream_kernels")
    except Exception as error:  # numba's failures are of many kinds: ImportError, RuntimeError, ...
        warnings.warn(f"numba is installed but cannot be used ({type(error).__name__}: {error}); volnet runs batch "
                      "norm, ReLU and max pooling as NumPy passes instead", stacklevel=3)
        return None


def kernels_for(*arrays):
    """stream_kernels() when it loads and every array is float32 or every one float64; else None."""
    dtypes = {array.dtype for array in arrays}
    if len(dtypes) != 1 or dtypes.pop() not in DTYPES:
        return None
    return stream_kernels()
