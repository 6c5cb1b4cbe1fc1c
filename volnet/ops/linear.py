"""The fully-connected (FC) layer: a matrix multiply plus a bias.

Shapes: x (N, ...) is flattened to (N, D_in); w (D_out, D_in) as in PyTorch; b (D_out,).
    out = x_flat @ wᵀ + b                  (N, D_out)
Backward, given dout (N, D_out):
    dx = dout @ w          (reshaped to x's shape)
    dw = doutᵀ @ x_flat    db = Σ_n dout
The multiplies are split over the cores (volnet.ops.parallel): out and dx by rows
(examples), dw by rows (outputs), each part one single-threaded BLAS call.
"""

from __future__ import annotations

import numpy as np

from volnet.ops.parallel import blas_threads, even_slices, map_chunks


def _matmul_by_rows(a, b, out):
    """out = a @ b, the rows of a (and of out) shared out over the cores."""
    map_chunks(lambda rows: np.matmul(a[rows], b, out=out[rows]), even_slices(len(a), blas_threads()))
    return out


def linear_forward(x, w, b=None):
    """Returns out (N, D_out) and the cache for linear_backward."""
    x_flat = x.reshape(len(x), -1)
    if x_flat.shape[1] != w.shape[1]:
        raise ValueError(f"linear: each example has {x_flat.shape[1]} numbers but w {w.shape} expects {w.shape[1]}")
    out = _matmul_by_rows(x_flat, w.T, np.empty((len(x_flat), len(w)), np.result_type(x_flat, w)))
    if b is not None:
        out += b
    return out, (x_flat, x.shape, w, b is not None)


def linear_backward(dout, cache):
    """Returns dx (shaped like x), dw (D_out, D_in), db (D_out,) or None."""
    x_flat, input_shape, w, has_bias = cache
    dx = _matmul_by_rows(dout, w, np.empty((len(dout), w.shape[1]), np.result_type(dout, w))).reshape(input_shape)
    dw = _matmul_by_rows(dout.T, x_flat, np.empty(w.shape, np.result_type(dout, x_flat)))
    db = dout.sum(axis=0) if has_bias else None
    return dx, dw, db
