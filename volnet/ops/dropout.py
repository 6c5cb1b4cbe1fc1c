"""Inverted dropout: in training keep each number with probability 1 − p and scale it by
1/(1 − p), so that inference needs no change (out = x).

    out = x · mask,  mask = 1[u ≥ p]/(1 − p),  u ~ U[0, 1)        dx = dout · mask
"""

from __future__ import annotations

import numpy as np


def dropout_forward(x, rate, rng: np.random.Generator, training=True):
    """Returns out (shape of x) and the mask (None in inference or when rate is 0)."""
    if not 0 <= rate < 1:
        raise ValueError(f"dropout rate must be in [0, 1), got {rate}")
    if not training or rate == 0:
        return x, None
    mask = (rng.random(x.shape, dtype=np.float32) >= rate).astype(x.dtype) / x.dtype.type(1 - rate)
    return x * mask, mask


def dropout_backward(dout, mask):
    return dout if mask is None else dout * mask
