"""Inverted dropout: in training keep each number with probability 1 − p and scale it by
1/(1 − p), so that inference needs no change (out = x).

    out = x · mask,  mask = 1[u ≥ p]/(1 − p),  u ~ U[0, 1)        dx = dout · mask
"""

from __future__ import annotations

import numpy as np


def dropout_forward(x, rate, rng: np.random.Generator, training=True, batch_rows=None):
    """Returns out (shape of x) and the mask (None in inference or when rate is 0).

    Args:
        batch_rows: () -> (N of the whole batch, the rows of it that x holds), for a batch
            spread over processes: u is drawn for the whole batch and x's rows kept, so the
            mask does not depend on the split. None: x is the whole batch.
    """
    if not 0 <= rate < 1:
        raise ValueError(f"dropout rate must be in [0, 1), got {rate}")
    if not training or rate == 0:
        return x, None
    count, rows = batch_rows() if batch_rows is not None else (len(x), slice(None))
    draws = rng.random((count, *x.shape[1:]), dtype=np.float32)[rows]
    mask = (draws >= rate).astype(x.dtype) / x.dtype.type(1 - rate)
    return x * mask, mask


def dropout_backward(dout, mask):
    return dout if mask is None else dout * mask
