"""The three loops of the "direct" convolution, compiled by numba (see conv_direct.py).

Each loop walks the output positions of a chunk of the batch and, innermost, the K filters
(the last one: the T taps)
(channel-last memory: the K numbers of one position are neighbours, so that loop walks
memory in order and vectorises). A receptive field is read through `taps`: the offsets,
in one example's flattened padded input (Hp·Wp·D numbers, channel-last), of the field's
T numbers from the field's first one; the field of output (i, j) starts at
i·row_step + j·column_step. The taps come in threes (conv_direct pads the list with taps
of zero weight), so each pass over the K filters does three multiply-adds per number it
loads and stores; the forward pass and the filter gradient take two neighbouring output
positions of a row at a time, which halves their loads of the filters and of dout; the
second counts with pair_weights[j] (OW,), 1 but on the last column of an odd-width row,
where it is the first position again with weight 0.
They release the GIL, so volnet's worker threads run them on separate cores.

    forward_fields:         out[n, i, j, k] = bias[k] + Σ_t x[field(i, j) + taps[t]] · weights[t, k]
    filter_gradient_fields: dw[t, k] += Σ_{i,j} x[field(i, j) + taps[t]] · dout[n, i, j, k],
                            db[k] += Σ_{i,j} dout[n, i, j, k]
    add_field_gradients:    dx[field(i, j) + taps[t]] += field_gradients[n, i, j, t]
                            (the field gradients: dout @ weightsᵀ, by BLAS)
"""

from __future__ import annotations

from numba import njit

from volnet.ops.compiled import FASTMATH

_compile = njit(nogil=True, fastmath=set(FASTMATH), cache=True)


@_compile
def pair_of_fields(i, j, width, row_step, column_step):
    """(j2, first, second): the column of the second position of the pair that starts at (i, j)
    (j itself on the last column of an odd-width row) and where the two fields start."""
    j2 = min(j + 1, width - 1)
    return j2, i * row_step + j * column_step, i * row_step + j2 * column_step


@_compile
def three_taps(x_example, first, second, weight, taps, t):
    """Taps t, t + 1, t + 2 of the field that starts at first, then of the one at second times weight."""
    return (x_example[first + taps[t]], x_example[first + taps[t + 1]], x_example[first + taps[t + 2]],
            weight * x_example[second + taps[t]], weight * x_example[second + taps[t + 1]],
            weight * x_example[second + taps[t + 2]])


@_compile
def forward_fields(x_flat, weights, bias, out, row_step, column_step, taps, pair_weights):
    """x_flat (n, Hp·Wp·D), weights (T, K), bias (K,) -> out (n, OH, OW, K), T a multiple of 3."""
    n_examples, height, width, filters = out.shape
    for n in range(n_examples):
        for i in range(height):
            for j in range(0, width, 2):
                j2, first, second = pair_of_fields(i, j, width, row_step, column_step)
                for k in range(filters):
                    out[n, i, j, k] = bias[k]
                    out[n, i, j2, k] = bias[k]
                for t in range(0, taps.shape[0], 3):
                    a0, a1, a2, b0, b1, b2 = three_taps(x_flat[n], first, second, pair_weights[j], taps, t)
                    for k in range(filters):
                        w0, w1, w2 = weights[t, k], weights[t + 1, k], weights[t + 2, k]
                        out[n, i, j, k] += a0 * w0 + a1 * w1 + a2 * w2
                        out[n, i, j2, k] += b0 * w0 + b1 * w1 + b2 * w2


@_compile
def filter_gradient_fields(x_flat, dout, dw, db, row_step, column_step, taps, pair_weights):
    """x_flat (n, Hp·Wp·D), dout (n, OH, OW, K): adds onto dw (T, K) and db (K,)."""
    n_examples, height, width, filters = dout.shape
    for n in range(n_examples):
        for i in range(height):
            for j in range(0, width, 2):
                j2, first, second = pair_of_fields(i, j, width, row_step, column_step)
                weight = pair_weights[j]
                for k in range(filters):
                    db[k] += dout[n, i, j, k] + weight * dout[n, i, j2, k]
                for t in range(0, taps.shape[0], 3):
                    a0, a1, a2, b0, b1, b2 = three_taps(x_flat[n], first, second, weight, taps, t)
                    for k in range(filters):
                        g, h = dout[n, i, j, k], dout[n, i, j2, k]
                        dw[t, k] += a0 * g + b0 * h
                        dw[t + 1, k] += a1 * g + b1 * h
                        dw[t + 2, k] += a2 * g + b2 * h


@_compile
def add_field_gradients(field_gradients, dx_flat, row_step, column_step, taps):
    """field_gradients (n, OH, OW, T): adds each tap's gradient onto dx_flat (n, Hp·Wp·D), the
    padded input's gradient, where that tap read (col2im; fields that overlap add up)."""
    n_examples, height, width, _ = field_gradients.shape
    for n in range(n_examples):
        for i in range(height):
            for j in range(width):
                origin = i * row_step + j * column_step
                for t in range(taps.shape[0]):
                    dx_flat[n, origin + taps[t]] += field_gradients[n, i, j, t]
