"""Pooling, forward and backward: the reference loops and the strided version, side by side.

Pooling works on every depth slice on its own: a window of FH×FW moved with stride S
replaces each field by its maximum ("max") or its mean ("avg"). The output size follows
the same rule as convolution, OH = (H − FH + 2P)/S + 1; max pooling pads with −∞ so that
padding never wins, average pooling pads with zeros and divides by FH·FW.

Backward (the part the notes call fuzzy):
    max:  out = max(field), so ∂out/∂x is 1 for the field's maximum and 0 elsewhere —
          the upstream gradient goes only to the winner of each window (on a tie, to the
          first in row-major order, as PyTorch does). With 2×2 stride 2, 3 of 4 inputs get 0.
    avg:  out = Σ field / (FH·FW), so each input of the window gets dout/(FH·FW).
    Where windows overlap (stride < window) an input collects from every window it is in.

Shapes: x (N, D, H, W) -> out (N, D, OH, OW). Forward returns (out, cache); backward returns dx.
"""

from __future__ import annotations

import numpy as np

from volnet.ops.geometry import output_size, pair
from volnet.ops.im2col import zero_pad

MODES = ("max", "avg")


def _geometry(x, window, stride, pad, mode):
    if mode not in MODES:
        raise ValueError(f"pooling mode must be one of {MODES}, got {mode!r}")
    if x.ndim != 4:
        raise ValueError(f"pool2d wants x (N, D, H, W), got shape {x.shape}")
    window, pad = pair(window, "window"), pair(pad, "pad")
    stride = window if stride is None else pair(stride, "stride")
    if any(2 * p > f for p, f in zip(pad, window)):
        raise ValueError(f"pooling pad {pad} must be at most half the window {window}, or a window could see only padding")
    out_hw = tuple(output_size(x.shape[2 + a], window[a], stride[a], pad[a]) for a in (0, 1))
    x_pad = zero_pad(x, pad, value=-np.inf if mode == "max" else 0.0)
    return x_pad, out_hw, window, stride, pad


def _unpad(dx_pad, pad, height, width):
    return dx_pad[:, :, pad[0]:pad[0] + height, pad[1]:pad[1] + width]


def pool2d_forward_reference(x, window=2, stride=None, pad=0, mode="max"):
    """Pooling by plain loops over examples, depth slices and output positions.

    Args:
        x: (N, D, H, W). window: F or (FH, FW). stride: S or (S_h, S_w), default = window.
        pad: P or (P_h, P_w). mode: "max" or "avg".

    Returns:
        out (N, D, OH, OW); cache for pool2d_backward_reference.
    """
    x_pad, (oh, ow), window, stride, pad = _geometry(x, window, stride, pad, mode)
    n_examples, depth = x.shape[:2]
    out = np.zeros((n_examples, depth, oh, ow), dtype=x.dtype)
    for n in range(n_examples):
        for d in range(depth):
            for i in range(oh):
                for j in range(ow):
                    field = x_pad[n, d, i * stride[0]:i * stride[0] + window[0], j * stride[1]:j * stride[1] + window[1]]
                    out[n, d, i, j] = field.max() if mode == "max" else field.mean()
    return out, (x, window, stride, pad, mode)


def pool2d_backward_reference(dout, cache):
    """Backward of pool2d_forward_reference: to the window's maximum, or spread evenly."""
    x, window, stride, pad, mode = cache
    x_pad = zero_pad(x, pad, value=-np.inf if mode == "max" else 0.0)
    dx_pad = np.zeros_like(x_pad)
    n_examples, depth, oh, ow = dout.shape
    for n in range(n_examples):
        for d in range(depth):
            for i in range(oh):
                for j in range(ow):
                    rows = slice(i * stride[0], i * stride[0] + window[0])
                    columns = slice(j * stride[1], j * stride[1] + window[1])
                    if mode == "max":
                        a, c = np.unravel_index(np.argmax(x_pad[n, d, rows, columns]), window)
                        dx_pad[n, d, rows.start + a, columns.start + c] += dout[n, d, i, j]
                    else:
                        dx_pad[n, d, rows, columns] += dout[n, d, i, j] / (window[0] * window[1])
    return _unpad(dx_pad, pad, *x.shape[2:])


def _window_offsets(window, out_hw, stride):
    """For each offset (a, b) inside the window: its index a·FW + b and the strided slices
    that pick, for every output position (i, j), the input at (i·S_h + a, j·S_w + b)."""
    (fh, fw), (oh, ow), (sh, sw) = window, out_hw, stride
    for a in range(fh):
        for b in range(fw):
            yield a * fw + b, (slice(None), slice(None), slice(a, a + sh * (oh - 1) + 1, sh),
                               slice(b, b + sw * (ow - 1) + 1, sw))


def pool2d_forward(x, window=2, stride=None, pad=0, mode="max"):
    """Pooling as FH·FW passes over strided views of the input: no copy of the fields.

    Same arguments and result as pool2d_forward_reference. For max pooling the cache keeps
    the index (a·FW + b) of each window's winner, the "switches" that backward routes by.
    """
    x_pad, out_hw, window, stride, pad = _geometry(x, window, stride, pad, mode)
    offsets = _window_offsets(window, out_hw, stride)
    _, first = next(offsets)
    out = x_pad[first].copy()
    winner = np.zeros(out.shape, dtype=np.uint8 if window[0] * window[1] <= 256 else np.int32)
    for index, where in offsets:
        field = x_pad[where]
        if mode == "max":
            better = field > out  # strictly greater: the first maximum keeps the gradient
            np.copyto(out, field, where=better)
            winner[better] = index
        else:
            out += field
    if mode == "avg":
        out /= window[0] * window[1]
    return out, (x.shape, winner if mode == "max" else None, window, stride, pad, mode)


def pool2d_backward(dout, cache):
    """Backward of pool2d_forward: FH·FW strided adds into dx, one per window offset."""
    input_shape, winner, window, stride, pad, mode = cache
    n_examples, depth, height, width = input_shape
    dx_pad = np.zeros((n_examples, depth, height + 2 * pad[0], width + 2 * pad[1]), dtype=dout.dtype)
    share = dout / (window[0] * window[1]) if mode == "avg" else None
    for index, where in _window_offsets(window, dout.shape[2:], stride):
        dx_pad[where] += share if mode == "avg" else np.where(winner == index, dout, 0)
    return _unpad(dx_pad, pad, height, width)


def global_avgpool_forward(x):
    """Average every depth slice to one number: (N, D, H, W) -> (N, D)."""
    if x.ndim != 4:
        raise ValueError(f"global average pooling wants x (N, D, H, W), got shape {x.shape}")
    return x.mean(axis=(2, 3)), x.shape


def global_avgpool_backward(dout, cache):
    """Each of the H·W inputs of a slice gets dout/(H·W): (N, D) -> (N, D, H, W)."""
    n_examples, depth, height, width = cache
    dx = np.broadcast_to((dout / (height * width))[:, :, None, None], cache)
    return np.ascontiguousarray(dx)
