"""Where the gradient of one output number reaches in the input: the receptive field tests' witness."""

import numpy as np


def gradient_reach(model, last: int, at, input_shape, depth: int = 0, seed: int = 0):
    """The bounding box (top, left, bottom, right; bottom and right exclusive) of the input numbers
    on which output (depth, *at) of top-level layer `last` (1-based) depends, from a backward pass of a
    one-hot dout through a random input (N = 1) of input_shape (D, H, W)."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((1, *input_shape))
    layers = model.layers[:last]
    out = x
    for layer in layers:
        out = layer.forward(out)
    dout = np.zeros_like(out)
    dout[0, depth, at[0], at[1]] = 1
    for layer in reversed(layers):
        dout = layer.backward(dout)
    rows, columns = np.nonzero(np.abs(dout[0]).sum(axis=0) > 1e-14)
    return rows.min(), columns.min(), rows.max() + 1, columns.max() + 1
