"""Transposed convolution ("deconvolution"), forward and backward: the reference loops and the
fast version built on the convolution's own gradients, side by side.

A convolution gathers: each output number is a filter-weighted sum of one receptive field.
A transposed convolution scatters: each input number x[n, d, i, j] adds a copy of its
filters, scaled by itself, onto the output, at (i·S, j·S) — the picture the notes'
conv_arithmetic link animates. Where the copies overlap (stride < F) they add up; then P rows
and columns are cut off every side, and output padding adds op more at the bottom and right,
so that the output has the size of the input of the convolution it undoes.

Shapes (PyTorch's layout; the same letters as ops/conv.py):
    x    (N, D, H, W)       N volumes of depth D
    w    (D, K/G, FH, FW)   one stack of K/G filters per input depth slice (G groups)
    b    (K,) or None
    out  (N, K, OH, OW)     OH = (H − 1)·S − 2P + dil·(FH − 1) + op + 1, likewise OW

Forward, on the uncut output `full` of (H − 1)·S + dil·(FH − 1) + 1 + op rows:

    full[n, g·K/G + k, i·S + a·dil, j·S + c·dil] += x[n, d, i, j] · w[d, k, a, c]    (d in group g)
    out = full[:, :, P : P + OH, P : P + OW] + b

That is exactly the input gradient of a convolution with the same filters (dx of conv2d with
stride S, pad P, dilation dil: docs/backprop.md's "dout scattered back through the filters").
So a transposed convolution maps an H×W volume to the OH×OW that a conv2d maps down to H×W,
which is why decoders and upsampling layers use it; output padding picks among the sizes
that all go down to H×W when S > 1 (the conv's (OH + 2P − F)/S drops a remainder < S).

Backward, given dout (N, K, OH, OW), with dout_full its uncut version (zeros where cut off):
    db[k]          = Σ_{n,y,z} dout[n, k, y, z]
    dw[d, k, a, c] = Σ_{n,i,j} x[n, d, i, j] · dout_full[n, g·K/G + k, i·S + a·dil, j·S + c·dil]
    dx[n, d, i, j] = Σ_{k,a,c} w[d, k, a, c] · dout_full[n, g·K/G + k, i·S + a·dil, j·S + c·dil]
dx is a plain convolution of dout with the same filters (conv2d_forward with stride S, pad P),
and dw is that convolution's filter gradient with the roles of input and dout swapped.

The reference (conv_transpose2d_*_reference) runs the scatter loops above. The fast version
(conv_transpose2d_forward/backward) says the same with the convolution's ops, whichever
algorithm they run: forward = conv2d_input_gradient of x, dx = conv2d_forward of dout,
dw = conv2d_filter_gradient with x in the place of the convolution's dout. Both work on the
uncut output (a convolution with no padding, exact sizes) and `cut`/`uncut` do the P and op.

Forward returns (out, cache); backward returns (dx, dw, db).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from volnet.ops.conv import AUTO, conv2d_filter_gradient, conv2d_forward, conv2d_input_gradient, resolve_algorithm
from volnet.ops.geometry import effective_size, pair, tap_slice


def transposed_output_size(size: int, filter_size: int, stride: int = 1, pad: int = 0, output_pad: int = 0,
                           dilation: int = 1) -> int:
    """OW = (W − 1)·S − 2P + dil·(F − 1) + op + 1, the size a transposed convolution makes.

    Raises:
        ValueError: the padding cuts the whole output away (OW < 1); the message shows the numbers.

    Example:
        >>> transposed_output_size(3, 3, stride=2, pad=1)
        5
    """
    out = (size - 1) * stride - 2 * pad + effective_size(filter_size, dilation) + output_pad
    if out < 1:
        shown = str(out).replace("-", "−")
        raise ValueError(
            f"conv_transpose2d: (W − 1)·S − 2P + dil·(F − 1) + op + 1 = ({size} − 1)·{stride} − 2·{pad} + "
            f"{dilation}·({filter_size} − 1) + {output_pad} + 1 = {shown}, but the output needs at least 1 pixel; "
            f"use a smaller pad (at most {((size - 1) * stride + effective_size(filter_size, dilation) + output_pad - 1) // 2})"
        )
    return out


def output_pad_rule(output_pad, stride, dilation) -> str | None:
    """Which (height, width) pair breaks the rule output_pad < max(stride, dilation), as a phrase,
    or None: a larger output padding would add rows that the matching convolution never reads."""
    for axis, name in enumerate(("height", "width")):
        largest = max(stride[axis], dilation[axis])
        if output_pad[axis] >= largest:
            return (f"output_pad {output_pad[axis]} along the {name} must be smaller than max(stride, dilation) = "
                    f"max({stride[axis]}, {dilation[axis]}) = {largest}; otherwise the matching convolution would never reach "
                    f"the extra rows. Use output_pad ≤ {largest - 1}")
    return None


def transposed_geometry(x_shape, w_shape, stride=1, pad=0, output_pad=0, dilation=1, groups=1):
    """Check the arguments of a transposed convolution; return (OH, OW) and the normalised pairs.

    Returns:
        (out_hw, stride, pad, output_pad, dilation), each a (height, width) pair.

    Raises:
        ValueError: not 4-D; groups not dividing both depths; filters not one stack per input
            depth slice; output_pad not below max(stride, dilation) (PyTorch's rule: a larger one
            would be an output row no window of the matching convolution reaches); no output left.
        TypeError: a hyperparameter that is not a whole number.
    """
    if len(x_shape) != 4 or len(w_shape) != 4:
        raise ValueError(f"conv_transpose2d wants x (N, D, H, W) and w (D, K/G, FH, FW), got x {tuple(x_shape)} "
                         f"and w {tuple(w_shape)}")
    stride, dilation = pair(stride, "stride", minimum=1), pair(dilation, "dilation", minimum=1)
    pad, output_pad = pair(pad, "pad", minimum=0), pair(output_pad, "output_pad", minimum=0)
    if isinstance(groups, bool) or not isinstance(groups, (int, np.integer)) or groups < 1:
        raise ValueError(f"conv_transpose2d: groups must be a whole number ≥ 1, got {groups!r}")
    depth = x_shape[1]
    if depth % groups:
        raise ValueError(f"conv_transpose2d: groups={groups} must divide the input depth D={depth}")
    if w_shape[0] != depth:
        raise ValueError(f"conv_transpose2d: w (D, K/G, FH, FW) = {tuple(w_shape)} needs one stack of filters per "
                         f"input depth slice, D = {depth}")
    broken = output_pad_rule(output_pad, stride, dilation)
    if broken:
        raise ValueError(f"conv_transpose2d: {broken}")
    out_hw = tuple(transposed_output_size(x_shape[2 + a], w_shape[2 + a], stride[a], pad[a], output_pad[a],
                                          dilation[a]) for a in (0, 1))
    return out_hw, stride, pad, output_pad, dilation


def cut(full: np.ndarray, pad, out_hw) -> np.ndarray:
    """full[:, :, P : P + OH, P : P + OW], where rows and columns that `full` lacks (output
    padding beyond the last filter copy) are zeros."""
    out = np.zeros(full.shape[:2] + tuple(out_hw), dtype=full.dtype)
    rows, columns = (max(0, min(size, full.shape[2 + a] - pad[a])) for a, size in enumerate(out_hw))
    out[:, :, :rows, :columns] = full[:, :, pad[0]:pad[0] + rows, pad[1]:pad[1] + columns]
    return out


def uncut(dout: np.ndarray, pad, full_hw) -> np.ndarray:
    """The adjoint of `cut`: dout put back at (P, P) in zeros of size full_hw, dropping what
    lies beyond it (the output padding no filter copy reached)."""
    full = np.zeros(dout.shape[:2] + tuple(full_hw), dtype=dout.dtype)
    rows, columns = (max(0, min(dout.shape[2 + a], full_hw[a] - pad[a])) for a in (0, 1))
    full[:, :, pad[0]:pad[0] + rows, pad[1]:pad[1] + columns] = dout[:, :, :rows, :columns]
    return full


def _reached_size(in_hw, w_shape, stride, dilation):
    """(H − 1)·S + dil·(F − 1) + 1 along each axis: the rows the filter copies reach."""
    return tuple((in_hw[a] - 1) * stride[a] + effective_size(w_shape[2 + a], dilation[a]) for a in (0, 1))


class TransposedConvCache(NamedTuple):
    """What a transposed convolution's forward keeps for its backward (either version's)."""

    x: np.ndarray
    w: np.ndarray
    has_bias: bool
    stride: tuple
    pad: tuple
    dilation: tuple
    groups: int
    algorithm: str = AUTO  # the convolution algorithm the fast version asks its backward for
    forward_algorithm: str | None = None  # the one its forward ran (None: the scatter loops)


def _scatter_targets(x_shape, w_shape, groups, stride, dilation):
    """Every input number and where its filters land: yields (n, d, i, j, target), where
    full[target] = full[n, filters of d's group, rows, columns] is the block that
    x[n, d, i, j] · w[d] is added onto."""
    n_examples, depth, height, width = x_shape
    per_group, fh, fw = w_shape[1:]
    (sh, sw), (dh, dw) = stride, dilation
    for n in range(n_examples):
        for d in range(depth):
            group = d // (depth // groups)
            filters = slice(group * per_group, (group + 1) * per_group)
            for i in range(height):
                for j in range(width):
                    yield n, d, i, j, (n, filters, tap_slice(i * sh, dh, fh), tap_slice(j * sw, dw, fw))


def conv_transpose2d_forward_reference(x, w, b=None, stride=1, pad=0, output_pad=0, dilation=1, groups=1):
    """Transposed convolution by plain loops: every x[n, d, i, j] scatters x[n, d, i, j] · w[d]
    onto the output (see module doc).

    Args:
        x: (N, D, H, W). w: (D, K/G, FH, FW). b: (K,) or None.
        stride, pad, output_pad, dilation: S, P, op, dil — ints or (height, width) pairs.
        groups: G, dividing D and K; input depth slice d only reaches the K/G filters of its group.

    Returns:
        out (N, K, OH, OW) with OH = (H − 1)·S − 2P + dil·(FH − 1) + op + 1;
        cache for conv_transpose2d_backward_reference.
    """
    out_hw, stride, pad, output_pad, dilation = transposed_geometry(x.shape, w.shape, stride, pad, output_pad,
                                                                    dilation, groups)
    full = np.zeros((x.shape[0], w.shape[1] * groups, *_reached_size(x.shape[2:], w.shape, stride, dilation)),
                    dtype=np.result_type(x, w))
    for n, d, i, j, target in _scatter_targets(x.shape, w.shape, groups, stride, dilation):
        full[target] += x[n, d, i, j] * w[d]
    out = cut(full, pad, out_hw)
    if b is not None:
        out += b[:, None, None]
    return out, TransposedConvCache(x, w, b is not None, stride, pad, dilation, groups)


def conv_transpose2d_backward_reference(dout, cache):
    """Backward of conv_transpose2d_forward_reference: each x[n, d, i, j] met its filters on one
    block of the output, so its gradient is that block of dout dotted with w[d], and w[d]'s is
    the block times x[n, d, i, j].

    Returns:
        dx (N, D, H, W), dw (D, K/G, FH, FW), db (K,) or None when there is no bias.
    """
    x, w, has_bias, stride, pad, dilation, groups, _, _ = cache
    dout_full = uncut(dout, pad, _reached_size(x.shape[2:], w.shape, stride, dilation))
    dx, dw = np.zeros_like(x, dtype=np.result_type(x, dout)), np.zeros_like(w, dtype=np.result_type(w, dout))
    for n, d, i, j, target in _scatter_targets(x.shape, w.shape, groups, stride, dilation):
        dx[n, d, i, j] = np.sum(dout_full[target] * w[d])
        dw[d] += x[n, d, i, j] * dout_full[target]
    db = dout.sum(axis=(0, 2, 3)) if has_bias else None
    return dx, dw, db


def conv_transpose2d_forward(x, w, b=None, stride=1, pad=0, output_pad=0, dilation=1, groups=1, algorithm=AUTO):
    """Transposed convolution as the input gradient of a convolution with the same filters.

    The uncut output is conv2d_input_gradient of x (playing dout) through filters w (playing a
    convolution's (K, D/G, FH, FW), with K = D) at stride S, dilation dil and no padding; then
    P rows and columns are cut off each side and op added at the bottom and right (`cut`).

    Args:
        as conv_transpose2d_forward_reference, and algorithm: the convolution algorithm the
        convolution's ops run ("auto", "reference", "im2col", "winograd", "direct": volnet.ops.conv).
        "auto" asks the policy for a convolution's input gradient (choose_algorithm's
        operation="input_gradient"), so a transposed convolution with at most
        DIRECT_MAX_DEPTH output depths per group and any filter size runs "direct".

    Returns:
        out (N, K, OH, OW), OH = (H − 1)·S − 2P + dil·(FH − 1) + op + 1; cache for
        conv_transpose2d_backward, whose .forward_algorithm names the convolution algorithm that ran.
    """
    out_hw, stride, pad, output_pad, dilation = transposed_geometry(x.shape, w.shape, stride, pad, output_pad,
                                                                    dilation, groups)
    ran = resolve_algorithm(algorithm, w.shape, (x.dtype, w.dtype), stride, 0, dilation, groups, "input_gradient")
    full = conv2d_input_gradient(x, w, _reached_size(x.shape[2:], w.shape, stride, dilation), stride, 0, dilation,
                                 groups, algorithm=ran)
    out = cut(full, pad, out_hw)
    if b is not None:
        out += b[:, None, None]
    return out, TransposedConvCache(x, w, b is not None, stride, pad, dilation, groups, algorithm, ran)


def conv_transpose2d_backward(dout, cache: TransposedConvCache, input_gradient=True):
    """Backward of conv_transpose2d_forward, by the convolution's ops on the uncut dout:
    dx = conv2d_forward(dout, w) (a plain convolution: each x[n, d, i, j] reads back the block
    it was scattered onto), dw = conv2d_filter_gradient(dout, x), db = Σ dout.

    With input_gradient=False dx is None (a net's first layer).

    Returns:
        dx (N, D, H, W) or None, dw (D, K/G, FH, FW), db (K,) or None when there is no bias.
    """
    x, w, has_bias, stride, pad, dilation, groups, algorithm, _ = cache
    dout_full = uncut(dout, pad, _reached_size(x.shape[2:], w.shape, stride, dilation))
    dx = None
    if input_gradient:
        dx, _ = conv2d_forward(dout_full, w, None, stride, 0, dilation, groups, algorithm=algorithm)
    dw = conv2d_filter_gradient(dout_full, x, w.shape[2:], stride, 0, dilation, groups, algorithm=algorithm)
    db = dout.sum(axis=(0, 2, 3)) if has_bias else None
    return dx, dw, db
