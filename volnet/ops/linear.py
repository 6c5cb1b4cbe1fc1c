"""The fully-connected (FC) layer: a matrix multiply plus a bias.

Shapes: x (N, ...) is flattened to (N, D_in); w (D_out, D_in) as in PyTorch; b (D_out,).
    out = x_flat @ wᵀ + b                  (N, D_out)
Backward, given dout (N, D_out):
    dx = dout @ w          (reshaped to x's shape)
    dw = doutᵀ @ x_flat    db = Σ_n dout
The multiplies are split over the cores (volnet.ops.parallel) along w's axes, so that
each core packs only its part of w: out by outputs (rows of w), dx and dw by inputs
(columns of w); each part is one single-threaded BLAS call. (Split by examples instead,
every core would pack all of w for a few rows: 128×3136 → 128 forward, 0.9 ms against
0.8, and no faster than one core at 4 parts.) Layers with fewer than SPLIT_MIN_WEIGHTS
weights are not split: handing the work over costs more than it saves.
linear_forward_reference and linear_backward_reference are the formulas in one multiply each.
"""

from __future__ import annotations

import numpy as np

from volnet.ops.parallel import map_split, one_blas_thread


SPLIT_MIN_WEIGHTS = 1 << 16


def linear_forward_reference(x, w, b=None):
    """out = x_flat @ wᵀ + b in one multiply; same arguments and result as linear_forward."""
    x_flat = x.reshape(len(x), -1)
    out = x_flat @ w.T
    return (out if b is None else out + b), (x_flat, x.shape, w, b is not None)


def linear_backward_reference(dout, cache):
    """dx = dout @ w, dw = doutᵀ @ x_flat, db = Σ_n dout; same as linear_backward."""
    x_flat, input_shape, w, has_bias = cache
    return (dout @ w).reshape(input_shape), dout.T @ x_flat, dout.sum(axis=0) if has_bias else None


def _matmul_by_columns(a, b, weights):
    """a @ b, the columns of b (and of the product) shared out over the cores unless the
    layer has fewer than SPLIT_MIN_WEIGHTS weights."""
    out = np.empty((a.shape[0], b.shape[1]), np.result_type(a, b))
    map_split(lambda columns: np.matmul(a, b[:, columns], out=out[:, columns]), b.shape[1],
              None if weights >= SPLIT_MIN_WEIGHTS else 1)
    return out


@one_blas_thread
def linear_forward(x, w, b=None):
    """Returns out (N, D_out) and the cache for linear_backward."""
    x_flat = x.reshape(len(x), -1)
    if x_flat.shape[1] != w.shape[1]:
        raise ValueError(f"linear: each example has {x_flat.shape[1]} numbers but w {w.shape} expects {w.shape[1]}")
    out = _matmul_by_columns(x_flat, w.T, w.size)
    if b is not None:
        out += b
    return out, (x_flat, x.shape, w, b is not None)


@one_blas_thread
def linear_backward(dout, cache):
    """Returns dx (shaped like x), dw (D_out, D_in), db (D_out,) or None."""
    x_flat, input_shape, w, has_bias = cache
    dx = _matmul_by_columns(dout, w, w.size).reshape(input_shape)
    dw = _matmul_by_columns(dout.T, x_flat, w.size)
    db = dout.sum(axis=0) if has_bias else None
    return dx, dw, db
