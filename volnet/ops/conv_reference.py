"""Convolution by plain loops: the notes' formulas, one output number at a time (the "reference"
algorithm; volnet.ops.conv has the formulas and the other algorithms).

Every output (n, k, i, j) is one dot product of filter k with its receptive field, the
region of the padded input x_pad[n, filter k's depth slice, i·S + a·dil, j·S + c·dil]; the
backward routes each dout[n, k, i, j] back through that same dot product. Slow, and
written to be read and to check the fast algorithms against.
"""

from __future__ import annotations

import numpy as np

from volnet.ops.geometry import conv_geometry, conv_gradient_geometry, tap_slice
from volnet.ops.layout import zero_pad


def _receptive_fields(n_examples, w_shape, groups, out_hw, stride, dilation):
    """Slide every filter over every example: yields (n, k, i, j, field), where
    x_pad[field] = x_pad[n, depth slice of filter k's group, rows, columns] is the region
    that output (n, k, i, j) sees."""
    filters, group_depth, fh, fw = w_shape
    (sh, sw), (dh, dw) = stride, dilation
    for n in range(n_examples):
        for k in range(filters):
            group = k // (filters // groups)
            depth = slice(group * group_depth, (group + 1) * group_depth)
            for i in range(out_hw[0]):
                for j in range(out_hw[1]):
                    yield n, k, i, j, (n, depth, tap_slice(i * sh, dh, fh), tap_slice(j * sw, dw, fw))


def conv2d_forward_reference(x, w, b=None, stride=1, pad=0, dilation=1, groups=1):
    """out[n, k, i, j] = Σ x_pad[field of (n, k, i, j)] · w[k] + b[k], by loops.

    Returns:
        out (N, K, OH, OW); cache for conv2d_backward_reference.
    """
    out_hw, stride, pad, dilation = conv_geometry(x.shape, w.shape, stride, pad, dilation, groups)
    x_pad = zero_pad(x, pad)
    out = np.zeros((x.shape[0], w.shape[0], *out_hw), dtype=np.result_type(x, w))
    for n, k, i, j, field in _receptive_fields(x.shape[0], w.shape, groups, out_hw, stride, dilation):
        out[n, k, i, j] = np.sum(x_pad[field] * w[k]) + (0 if b is None else b[k])
    return out, (x, w, b, stride, pad, dilation, groups)


def conv2d_backward_reference(dout, cache, input_gradient=True):
    """Backward of conv2d_forward_reference: route each dout[n, k, i, j] back through its dot product.

    Returns:
        dx (N, D, H, W) (None when input_gradient is False), dw (K, D/G, FH, FW), db (K,) or
        None when there is no bias.
    """
    x, w, b, stride, pad, dilation, groups = cache
    dx = conv2d_input_gradient_reference(dout, w, x.shape[2:], stride, pad, dilation, groups) if input_gradient else None
    dw = conv2d_filter_gradient_reference(x, dout, w.shape[2:], stride, pad, dilation, groups)
    db = None if b is None else dout.sum(axis=(0, 2, 3))
    return dx, dw, db


def conv2d_input_gradient_reference(dout, w, input_hw, stride=1, pad=0, dilation=1, groups=1):
    """dx_pad[field of (n, k, i, j)] += dout[n, k, i, j] · w[k], by loops; dx is dx_pad unpadded.

    Args:
        dout: (N, K, OH, OW). w: (K, D/G, FH, FW). input_hw: (H, W) of the convolution's input
            (up to S − 1 rows and columns more than the smallest that gives OH×OW; see
            volnet.ops.conv.conv2d_input_gradient).
    Returns:
        dx (N, D, H, W).
    """
    stride, pad, dilation = conv_gradient_geometry("conv2d_input_gradient", input_hw, w.shape[2:], dout.shape[2:],
                                                   stride, pad, dilation)
    (height, width), (pad_h, pad_w) = input_hw, pad
    depth = w.shape[1] * groups
    dx_pad = np.zeros((len(dout), depth, height + 2 * pad_h, width + 2 * pad_w), np.result_type(dout, w))
    for n, k, i, j, field in _receptive_fields(len(dout), w.shape, groups, dout.shape[2:], stride, dilation):
        dx_pad[field] += dout[n, k, i, j] * w[k]
    return dx_pad[:, :, pad_h:pad_h + height, pad_w:pad_w + width]


def conv2d_filter_gradient_reference(x, dout, filter_hw, stride=1, pad=0, dilation=1, groups=1):
    """dw[k] += dout[n, k, i, j] · x_pad[field of (n, k, i, j)], by loops.

    Args:
        x: (N, D, H, W), the convolution's input (up to S − 1 rows and columns more than the
            smallest that gives OH×OW). dout: (N, K, OH, OW). filter_hw: (FH, FW).
    Returns:
        dw (K, D/G, FH, FW).
    """
    stride, pad, dilation = conv_gradient_geometry("conv2d_filter_gradient", x.shape[2:], filter_hw, dout.shape[2:],
                                                   stride, pad, dilation)
    w_shape = (dout.shape[1], x.shape[1] // groups, *filter_hw)
    x_pad = zero_pad(x, pad)
    dw = np.zeros(w_shape, np.result_type(x, dout))
    for n, k, i, j, field in _receptive_fields(len(x), w_shape, groups, dout.shape[2:], stride, dilation):
        dw[k] += dout[n, k, i, j] * x_pad[field]
    return dw
