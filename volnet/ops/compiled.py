"""volnet's numba-compiled loops, loaded on first use, or None where numba is not there.

numba is optional: without it, or where it is installed but cannot load (after one warning),
`load` gives None and the op runs its NumPy version instead, with the same results to
rounding. numba is imported by the first call, not when volnet is, and compiles each loop
once per dtype on first use, then reads it from its on-disk cache. `stream_kernels()` is the
loops of batch norm, ReLU and max pooling (stream_kernels.py).
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
import warnings

import numpy as np

# numba compiles the loops for these (native byte order) dtypes only
DTYPES = (np.dtype(np.float32), np.dtype(np.float64))
# every loop's fastmath flags: its reordering (so that sums vectorise) but not its "no NaN, no ∞",
# so that a NaN or an inf still comes out and training's checks see it
FASTMATH = frozenset({"reassoc", "contract", "arcp", "nsz", "afn"})


@functools.cache
def numba_installed() -> bool:
    return importlib.util.find_spec("numba") is not None


@functools.cache
def load(module: str, instead: str):
    """The compiled module (e.g. "volnet.ops.stream_kernels"), or None when numba is missing, or,
    after a warning that says what volnet does `instead`, when numba is installed but cannot load."""
    if not numba_installed():
        return None
    try:
        return importlib.import_module(module)
    except Exception as error:  # numba's failures are of many kinds: ImportError, RuntimeError, ...
        warnings.warn(f"numba is installed but cannot be used ({type(error).__name__}: {error}); volnet {instead}",
                      stacklevel=4)
        return None


def dtype_refusal(dtypes) -> str | None:
    """Why loops compiled for DTYPES cannot take operands of these dtypes, or None when they can."""
    first, second = (np.dtype(d) for d in dtypes)
    if first != second or first not in DTYPES:
        return f"its operands are {first} and {second}, not both float32 or both float64"
    return None


def loading_refusal(kernels) -> str | None:
    """Why compiled loops are not there, or None when they are: `kernels` is a call of `load`,
    made only when numba is installed (so that a missing numba is not imported for nothing)."""
    if not numba_installed():
        return "numba is not installed (pip install numba)"
    if kernels() is None:
        return "numba is installed but cannot load"
    return None


def stream_kernels():
    """The loops of volnet.ops.stream_kernels, or None (`load`)."""
    return load("volnet.ops.stream_kernels", "runs batch norm, ReLU and max pooling as NumPy passes instead")


def kernels_for(*arrays):
    """stream_kernels() when it loads and every array is float32 or every one float64; else None."""
    dtypes = {array.dtype for array in arrays}
    if len(dtypes) != 1 or dtypes.pop() not in DTYPES:
        return None
    return stream_kernels()
