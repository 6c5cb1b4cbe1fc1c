"""Compiled one-pass loops for the memory-bound ops: batch norm, ReLU and 2×2 max pooling.

NumPy does each of these ops as several ufunc passes (a subtraction, a multiply, an add, a
comparison…), each writing an intermediate that the next reads again. Here each pass of an op
is one loop that reads its inputs once and writes its outputs once, compiled by numba (an
optional dependency, as for Winograd's tile transforms, volnet/ops/winograd_kernels.py). The
ops (batchnorm.py, activation.py, pool.py) call these on one chunk of the batch at a time on
volnet's worker threads (volnet.ops.parallel); the loops release the GIL. Every inner loop
walks memory in order (over the depth d in channel-last memory), so it vectorises. Per-feature sums are accumulated in float64 whatever the data's dtype, and each
chunk's sums are its own array (added by the caller in a fixed order), so the result does not
depend on how many threads ran.

    batch norm, on (A, D, B) views: a channel-last volume's (N·H·W, D, 1) or another's (N, D, H·W):
        feature_moments      Σ (x − K), Σ (x − K)²         (shifted sums, K a sample per feature)
        normalise            out = (x − μ)·gain + offset
        gradient_sums        Σ dout, Σ dout·(x − μ)
        input_gradient       dx = scale·(dout − through_mean − (x − μ)·through_var)
      the last three with an optional mask `positive`: batch norm and the ReLU after it in the same passes
      (out = max(0, ·) and positive = · > 0 forward; dout·positive in place of dout backward)
    ReLU, a flat run of memory:
        rectify              out = max(0, x), positive = x > 0
    max pooling 2×2 stride 2 of a channel-last volume, (n, H, W, D) -> (n, H/2, W/2, D):
        max_pool_2x2         out = the window's maximum, switch = offset a·2 + b of its first maximum
        max_unpool_2x2       dx = dout at the switch's offset, 0 at the other three
"""

from __future__ import annotations

import numpy as np
from numba import njit

from volnet.ops.compiled import FASTMATH

_compile = njit(nogil=True, fastmath=set(FASTMATH), cache=True)


# The batch-norm loops take (A, D, B) views and have two loop orders: for a channel-last volume
# (B = 1) the features innermost, for another volume each depth slice's B = H·W numbers innermost;
# either way the inner loop walks memory in order.

@_compile
def feature_moments(x, shift, sums):
    """x (A, D, B), shift K (D,) float64 -> adds to sums (2, D) float64 Σ (x − K) and Σ (x − K)²."""
    if x.shape[2] == 1:
        for a in range(x.shape[0]):
            for d in range(x.shape[1]):
                deviation = np.float64(x[a, d, 0]) - shift[d]
                sums[0, d] += deviation
                sums[1, d] += deviation * deviation
        return
    for a in range(x.shape[0]):
        for d in range(x.shape[1]):
            first = second = 0.0
            for b in range(x.shape[2]):
                deviation = np.float64(x[a, d, b]) - shift[d]
                first += deviation
                second += deviation * deviation
            sums[0, d] += first
            sums[1, d] += second


@_compile
def _rectified(value, zero, positive, a, d, b):
    """value, or with positive (A, D, B) given, max(0, value) with positive[a, d, b] = value > 0 (the
    ReLU after batch norm: a NaN stays NaN and is not positive, as in rectify). `positive is None`
    is known when numba compiles, so a loop without the ReLU keeps no test of it."""
    if positive is None:
        return value
    positive[a, d, b] = value > zero
    return zero if value <= zero else value


@_compile
def _masked(gradient, zero, positive, a, d, b):
    """gradient, or with positive given, gradient·positive[a, d, b]: the ReLU's backward, a multiply
    by its mask as relu_backward's (so a NaN or inf gradient stays non-finite where the mask is 0)."""
    if positive is None:
        return gradient
    return gradient if positive[a, d, b] else gradient * zero


@_compile
def normalise(x, mean, gain, offset, out, positive):
    """out (A, D, B) = (x − μ)·gain + offset, μ, gain and offset per feature (D,) in x's dtype; with
    positive (A, D, B) bool given (None: plain batch norm), the ReLU after it too (_rectified)."""
    zero = out.dtype.type(0)
    if x.shape[2] == 1:
        for a in range(x.shape[0]):
            for d in range(x.shape[1]):
                out[a, d, 0] = _rectified((x[a, d, 0] - mean[d]) * gain[d] + offset[d], zero, positive, a, d, 0)
        return
    for a in range(x.shape[0]):
        for d in range(x.shape[1]):
            for b in range(x.shape[2]):
                out[a, d, b] = _rectified((x[a, d, b] - mean[d]) * gain[d] + offset[d], zero, positive, a, d, b)


@_compile
def gradient_sums(dout, positive, x, mean, sums):
    """dout, x (A, D, B), mean (D,) -> adds to sums (2, D) float64 Σ dout and Σ dout·(x − μ); with
    positive given, dout is the gradient of the ReLU after batch norm, and dout·positive is summed."""
    zero = dout.dtype.type(0)
    if x.shape[2] == 1:
        for a in range(x.shape[0]):
            for d in range(x.shape[1]):
                gradient = np.float64(_masked(dout[a, d, 0], zero, positive, a, d, 0))
                sums[0, d] += gradient
                sums[1, d] += gradient * (x[a, d, 0] - mean[d])
        return
    for a in range(x.shape[0]):
        for d in range(x.shape[1]):
            first = second = 0.0
            for b in range(x.shape[2]):
                gradient = np.float64(_masked(dout[a, d, b], zero, positive, a, d, b))
                first += gradient
                second += gradient * (x[a, d, b] - mean[d])
            sums[0, d] += first
            sums[1, d] += second


@_compile
def input_gradient(dout, positive, x, mean, scale, through_mean, through_var, dx):
    """dx (A, D, B) = scale·(dout − through_mean − (x − μ)·through_var), all per feature (D,); with
    positive given, dout·positive in place of dout (as gradient_sums)."""
    zero = dout.dtype.type(0)
    if x.shape[2] == 1:
        for a in range(x.shape[0]):
            for d in range(x.shape[1]):
                gradient = _masked(dout[a, d, 0], zero, positive, a, d, 0)
                dx[a, d, 0] = scale[d] * (gradient - through_mean[d] - (x[a, d, 0] - mean[d]) * through_var[d])
        return
    for a in range(x.shape[0]):
        for d in range(x.shape[1]):
            for b in range(x.shape[2]):
                gradient = _masked(dout[a, d, b], zero, positive, a, d, b)
                dx[a, d, b] = scale[d] * (gradient - through_mean[d] - (x[a, d, b] - mean[d]) * through_var[d])


@_compile
def rectify(x, out, positive):
    """x (m,) -> out (m,) = max(0, x) and positive (m,) = x > 0 (a NaN stays NaN, not positive)."""
    zero = x.dtype.type(0)
    for i in range(x.shape[0]):
        value = x[i]
        out[i] = zero if value <= zero else value
        positive[i] = value > zero


@_compile
def _pool_window(top, bottom, out, switches, j, d):
    """Window j of a row of windows (its two input rows top and bottom, (2·OW, D)): its maximum
    and the offset a·2 + b of its first maximum in row-major order (a later number wins only
    when strictly larger, so on a tie the first keeps it; a NaN wins, as in np.maximum)."""
    best, switch = top[2 * j, d], 0
    value = top[2 * j + 1, d]
    if value > best or value != value:
        best, switch = value, 1
    value = bottom[2 * j, d]
    if value > best or value != value:
        best, switch = value, 2
    value = bottom[2 * j + 1, d]
    if value > best or value != value:
        best, switch = value, 3
    out[j, d] = best
    switches[j, d] = switch


@_compile
def max_pool_2x2(x, out, switches):
    """x (n, 2·OH, 2·OW, D) -> out, switches (n, OH, OW, D): each window's maximum and switch."""
    n_examples, out_height, out_width, depth = out.shape
    for n in range(n_examples):
        for i in range(out_height):
            top, bottom, out_row, switch_row = x[n, 2 * i], x[n, 2 * i + 1], out[n, i], switches[n, i]
            for j in range(out_width):
                for d in range(depth):
                    _pool_window(top, bottom, out_row, switch_row, j, d)


@_compile
def max_unpool_2x2(dout, switches, dx):
    """dout, switches (n, OH, OW, D) -> dx (n, 2·OH, 2·OW, D): each input of a window gets its dout
    if it is at the switch's offset, else 0 (every input lies in exactly one window). One store
    stream per offset: a multiply by the comparison, 4× faster here than four selects per window."""
    n_examples, out_height, out_width, depth = dout.shape
    for n in range(n_examples):
        for i in range(out_height):
            gradient, switch = dout[n, i], switches[n, i]
            for a in range(2):
                row = dx[n, 2 * i + a]
                for b in range(2):
                    offset = 2 * a + b
                    for j in range(out_width):
                        for d in range(depth):
                            row[2 * j + b, d] = gradient[j, d] * (switch[j, d] == offset)
