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

from volnet.ops.compiled import kernels_for
from volnet.ops.geometry import output_size, pair, tap_slice, window_offsets
from volnet.ops.layout import empty_nhwc, is_channel_last, unpad, unpad_channel_last, zero_pad
from volnet.ops.parallel import map_batch, one_blas_thread

MODES = ("max", "avg")


def _check(x, window, stride, pad, mode):
    """Validate the arguments; return (OH, OW) and window, stride, pad as (height, width) pairs."""
    if mode not in MODES:
        raise ValueError(f"pooling mode must be one of {MODES}, got {mode!r}")
    if x.ndim != 4:
        raise ValueError(f"pool2d wants x (N, D, H, W), got shape {x.shape}")
    window, pad = pair(window, "window"), pair(pad, "pad")
    stride = window if stride is None else pair(stride, "stride")
    if any(2 * p > f for p, f in zip(pad, window)):
        raise ValueError(f"pooling pad {pad} must be at most half the window {window}, or a window could see only padding")
    out_hw = tuple(output_size(x.shape[2 + a], window[a], stride[a], pad[a]) for a in (0, 1))
    return out_hw, window, stride, pad


def _geometry(x, window, stride, pad, mode):
    out_hw, window, stride, pad = _check(x, window, stride, pad, mode)
    x_pad = zero_pad(x, pad, value=-np.inf if mode == "max" else 0.0)
    return x_pad, out_hw, window, stride, pad


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
                    field = x_pad[n, d, tap_slice(i * stride[0], 1, window[0]), tap_slice(j * stride[1], 1, window[1])]
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
                    rows, columns = tap_slice(i * stride[0], 1, window[0]), tap_slice(j * stride[1], 1, window[1])
                    if mode == "max":
                        a, c = np.unravel_index(np.argmax(x_pad[n, d, rows, columns]), window)
                        dx_pad[n, d, rows.start + a, columns.start + c] += dout[n, d, i, j]
                    else:
                        dx_pad[n, d, rows, columns] += dout[n, d, i, j] / (window[0] * window[1])
    return unpad(dx_pad, pad, x.shape[2:])


def _window_slices(window, out_hw, stride):
    """For each offset (a, b) of the window, in row-major order: the strided slices of an
    (N, Hp, Wp, D) array that pick, for every output (i, j), the input at (i·S_h + a, j·S_w + b)."""
    return [(slice(None), rows, columns) for _, _, rows, columns in window_offsets(window, out_hw, stride)]


@one_blas_thread
def pool2d_forward(x, window=2, stride=None, pad=0, mode="max"):
    """Pooling as FH·FW elementwise passes over strided views of the input: no copy of the fields.

    Works in x's own memory layout (channel-last or not) and returns the output in it. For
    max pooling the cache keeps each window's "switch": the index a·FW + b of the first
    maximum (the one the reference routes to). It is found without branching, from
    ne_i = (field_i ≠ max):  switch = ne_0·(1 + ne_1·(1 + ne_2·(…))), the count of leading misses.
    Where numba loads (volnet.ops.compiled), 2×2 stride-2 max pooling of a channel-last float32
    or float64 volume, the layout a net passes, is one compiled pass instead (and so is its
    backward), with the same switches.

    Same arguments and result as pool2d_forward_reference.
    """
    out_hw, window, stride, pad = _check(x, window, stride, pad, mode)
    n_examples, depth, height, width = x.shape
    channel_last = is_channel_last(x)
    kernels = _compiled_2x2(x, window, stride, pad, mode, channel_last)
    if kernels:
        return _max_pool_2x2(x, out_hw, kernels)
    x_view = x.transpose(0, 2, 3, 1)
    if pad != (0, 0):
        x_view = empty_nhwc((n_examples, height + 2 * pad[0], width + 2 * pad[1], depth), x.dtype, channel_last)
        x_view.fill(-np.inf if mode == "max" else 0)
        x_view[:, pad[0]:pad[0] + height, pad[1]:pad[1] + width] = x.transpose(0, 2, 3, 1)
    out = empty_nhwc((n_examples, *out_hw, depth), x.dtype, channel_last)
    switch_type = np.uint8 if window[0] * window[1] <= 256 else np.int32
    switches = empty_nhwc(out.shape, switch_type, channel_last) if mode == "max" else None
    slices = _window_slices(window, out_hw, stride)

    def pool_chunk(part):
        fields = [x_view[part][where] for where in slices]
        chunk_out = out[part]
        np.copyto(chunk_out, fields[0])
        for field in fields[1:]:
            (np.maximum if mode == "max" else np.add)(chunk_out, field, out=chunk_out)
        if mode == "avg":
            chunk_out *= x.dtype.type(1 / len(fields))
            return
        chunk_switches, missed = switches[part], empty_nhwc(chunk_out.shape, bool, channel_last)
        chunk_switches.fill(0)
        for field in reversed(fields[:-1]):
            chunk_switches += 1
            np.not_equal(field, chunk_out, out=missed)
            np.multiply(chunk_switches, missed, out=chunk_switches)

    map_batch(pool_chunk, n_examples, x[0].size)
    return out.transpose(0, 3, 1, 2), (x.shape, switches, window, stride, pad, mode, channel_last)


def _compiled_2x2(x, window, stride, pad, mode, channel_last):
    """The compiled loops (volnet.ops.compiled) when they do this pooling: 2×2 max pooling with
    stride 2 and no padding of a channel-last float volume (the layout a net passes); else None."""
    if mode != "max" or window != (2, 2) or stride != (2, 2) or pad != (0, 0) or not channel_last:
        return None
    return kernels_for(x)


def _max_pool_2x2(x, out_hw, kernels):
    """pool2d_forward's 2×2 stride-2 max pooling of a channel-last x by one compiled pass (the same
    switches, so pool2d_backward takes the same cache)."""
    n_examples, depth = x.shape[:2]
    x_view = x.transpose(0, 2, 3, 1)
    out = empty_nhwc((n_examples, *out_hw, depth), x.dtype, True)
    switches = empty_nhwc(out.shape, np.uint8, True)
    map_batch(lambda part: kernels.max_pool_2x2(x_view[part], out[part], switches[part]), n_examples, x[0].size)
    return out.transpose(0, 3, 1, 2), (x.shape, switches, (2, 2), (2, 2), (0, 0), "max", True)


@one_blas_thread
def pool2d_backward(dout, cache):
    """Backward of pool2d_forward: one elementwise pass per window offset.

    The offset-(a, b) inputs of all windows form one strided view of dx; they get dout
    where the switch is a·FW + b (max) or dout/(FH·FW) (avg). When the windows tile the
    padded input exactly (stride = window) every input is in one window and the passes
    write dx directly; otherwise they add into zeros. dx comes back in x's memory layout.
    """
    input_shape, switches, window, stride, pad, mode, channel_last = cache
    n_examples, depth, height, width = input_shape
    out_hw = dout.shape[2:]
    dout_view = dout.transpose(0, 2, 3, 1)
    padded_hw = (height + 2 * pad[0], width + 2 * pad[1])
    dx_view = empty_nhwc((n_examples, *padded_hw, depth), dout.dtype, channel_last)
    tiled = stride == window and all(o * f == p for o, f, p in zip(out_hw, window, padded_hw))
    slices = _window_slices(window, out_hw, stride)
    share = dout.dtype.type(1 / (window[0] * window[1]))
    kernels = _compiled_2x2(dout, window, stride, pad, mode, channel_last)

    def unpool_chunk(part):
        gradient = dout_view[part]
        if gradient.flags.c_contiguous != channel_last:  # match the switches' layout: one pass in order
            gradient = empty_nhwc(gradient.shape, dout.dtype, channel_last)
            gradient[...] = dout_view[part]
        chunk_dx = dx_view[part]
        if kernels:
            kernels.max_unpool_2x2(gradient, switches[part], chunk_dx)
            return
        if not tiled:
            chunk_dx.fill(0)
        if mode == "avg":
            gradient = gradient * share
        chosen = empty_nhwc(gradient.shape, bool, channel_last)
        for index, where in enumerate(slices):
            if mode == "max":
                np.equal(switches[part], index, out=chosen)
                if tiled:
                    np.multiply(gradient, chosen, out=chunk_dx[where])
                else:
                    chunk_dx[where] += gradient * chosen
            elif tiled:
                chunk_dx[where] = gradient
            else:
                chunk_dx[where] += gradient

    map_batch(unpool_chunk, n_examples, depth * padded_hw[0] * padded_hw[1])
    return unpad_channel_last(dx_view, pad, (height, width))


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
