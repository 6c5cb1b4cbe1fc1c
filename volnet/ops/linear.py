"""The fully-connected (FC) layer: a matrix multiply plus a bias.

Shapes: x (N, ...) is flattened to (N, D_in); w (D_out, D_in) as in PyTorch; b (D_out,).
    out = x_flat @ wᵀ + b                  (N, D_out)
Backward, given dout (N, D_out):
    dx = dout @ w          (reshaped to x's shape)
    dw = doutᵀ @ x_flat    db = Σ_n dout
"""

from __future__ import annotations



def linear_forward(x, w, b=None):
    """Returns out (N, D_out) and the cache for linear_backward."""
    x_flat = x.reshape(len(x), -1)
    if x_flat.shape[1] != w.shape[1]:
        raise ValueError(f"linear: each example has {x_flat.shape[1]} numbers but w {w.shape} expects {w.shape[1]}")
    out = x_flat @ w.T
    if b is not None:
        out += b
    return out, (x_flat, x.shape, w, b is not None)


def linear_backward(dout, cache):
    """Returns dx (shaped like x), dw (D_out, D_in), db (D_out,) or None."""
    x_flat, input_shape, w, has_bias = cache
    dx = (dout @ w).reshape(input_shape)
    dw = dout.T @ x_flat
    db = dout.sum(axis=0) if has_bias else None
    return dx, dw, db
