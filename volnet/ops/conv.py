"""Convolution, forward and backward: the reference loops and the matrix version, side by side.

Shapes (the same letters in every op):
    x    (N, D, H, W)      N volumes of depth D, height H, width W
    w    (K, D/G, FH, FW)  K filters, each FH×FW and as deep as its group of the input (G groups)
    b    (K,) or None
    out  (N, K, OH, OW)    OH = (H − FH_eff + 2P_h)/S_h + 1, likewise OW

Forward (the notes: "slide each filter over width and height; dot product of the filter
with the local region, plus bias"):

    out[n, k, i, j] = Σ_{d,a,c} x_pad[n, d, i·S + a·dil, j·S + c·dil] · w[k, d, a, c] + b[k]

Backward, given dout = ∂L/∂out (derived in docs/backprop.md):
    db[k]          = Σ_{n,i,j} dout[n, k, i, j]                  a sum per filter
    dw[k, d, a, c] = Σ_{n,i,j} dout[n, k, i, j] · x_pad[n, d, i·S + a, j·S + c]
                                                                 input correlated with dout
    dx_pad[n, d, y, z] = Σ_{k,i,j: y = i·S + a, z = j·S + c} dout[n, k, i, j] · w[k, d, a, c]
                                                                 a "full" convolution of dout
                                                                 with the flipped filters
Both versions return (out, cache) from forward and (dx, dw, db) from backward.
"""

from __future__ import annotations

import numpy as np

from volnet.ops.geometry import output_size, pair
from volnet.ops.im2col import col2im, im2col, zero_pad


def _geometry(x, w, stride, pad, dilation, groups):
    """Check the arguments of a convolution and return its (OH, OW) and normalised pairs."""
    if x.ndim != 4 or w.ndim != 4:
        raise ValueError(f"conv2d wants x (N, D, H, W) and w (K, D, F, F), got x {x.shape} and w {w.shape}")
    stride, pad, dilation = pair(stride, "stride"), pair(pad, "pad"), pair(dilation, "dilation")
    depth, filters = x.shape[1], w.shape[0]
    if depth % groups or filters % groups or w.shape[1] * groups != depth:
        raise ValueError(
            f"conv2d: input depth {depth} with groups={groups} needs filters of depth {depth}/{groups}; "
            f"got filters (K, D, F, F) = {w.shape}"
        )
    out_hw = tuple(
        output_size(x.shape[2 + a], w.shape[2 + a], stride[a], pad[a], dilation[a]) for a in (0, 1)
    )
    return out_hw, stride, pad, dilation


def _receptive_field(n, depth, i, j, window, stride, dilation):
    """x_pad[n, depth, rows, columns] seen by output position (i, j)."""
    (fh, fw), (sh, sw), (dh, dw) = window, stride, dilation
    rows = slice(i * sh, i * sh + dh * (fh - 1) + 1, dh)
    columns = slice(j * sw, j * sw + dw * (fw - 1) + 1, dw)
    return (n, depth, rows, columns)


def conv2d_forward_reference(x, w, b=None, stride=1, pad=0, dilation=1, groups=1):
    """Convolution by plain loops over examples, filters and output positions (see module doc).

    Returns:
        out (N, K, OH, OW); cache for conv2d_backward_reference.
    """
    (oh, ow), stride, pad, dilation = _geometry(x, w, stride, pad, dilation, groups)
    n_examples, filters, group_depth = x.shape[0], w.shape[0], w.shape[1]
    x_pad = zero_pad(x, pad)
    out = np.zeros((n_examples, filters, oh, ow), dtype=np.result_type(x, w))
    for n in range(n_examples):
        for k in range(filters):
            group = k // (filters // groups)
            depth = slice(group * group_depth, (group + 1) * group_depth)
            for i in range(oh):
                for j in range(ow):
                    field = x_pad[_receptive_field(n, depth, i, j, w.shape[2:], stride, dilation)]
                    out[n, k, i, j] = np.sum(field * w[k]) + (0 if b is None else b[k])
    return out, (x, w, b, stride, pad, dilation, groups)


def conv2d_backward_reference(dout, cache):
    """Backward of conv2d_forward_reference: route each dout[n, k, i, j] back through its dot product.

    Returns:
        dx (N, D, H, W), dw (K, D/G, FH, FW), db (K,) or None when there is no bias.
    """
    x, w, b, stride, pad, dilation, groups = cache
    n_examples, filters, oh, ow = dout.shape
    group_depth = w.shape[1]
    x_pad = zero_pad(x, pad)
    dx_pad = np.zeros_like(x_pad)
    dw = np.zeros_like(w)
    for n in range(n_examples):
        for k in range(filters):
            group = k // (filters // groups)
            depth = slice(group * group_depth, (group + 1) * group_depth)
            for i in range(oh):
                for j in range(ow):
                    where = _receptive_field(n, depth, i, j, w.shape[2:], stride, dilation)
                    dx_pad[where] += dout[n, k, i, j] * w[k]
                    dw[k] += dout[n, k, i, j] * x_pad[where]
    height, width = x.shape[2:]
    dx = dx_pad[:, :, pad[0]:pad[0] + height, pad[1]:pad[1] + width]
    db = None if b is None else dout.sum(axis=(0, 2, 3))
    return dx, dw, db


def _filter_matrix(w_group):
    """Lay filters (Kg, Dg, FH, FW) out as columns in (fh, fw, d) order: (FH·FW·Dg, Kg)."""
    return w_group.transpose(2, 3, 1, 0).reshape(-1, w_group.shape[0])


def conv2d_forward(x, w, b=None, stride=1, pad=0, dilation=1, groups=1):
    """Convolution as im2col + one matrix multiply per group (see volnet.ops.im2col).

    Same arguments and result as conv2d_forward_reference. The output is returned as a
    (N, K, OH, OW) view of channel-last memory, which the next layer's im2col reads without
    a copy.
    """
    (oh, ow), stride, pad, dilation = _geometry(x, w, stride, pad, dilation, groups)
    n_examples, filters, group_depth, fh, fw = x.shape[0], *w.shape
    cols = im2col(x, (fh, fw), (oh, ow), stride, pad, dilation)
    group_cols = cols.reshape(len(cols), fh * fw, groups, group_depth)
    per_group = filters // groups
    out = np.empty((len(cols), filters), dtype=np.result_type(x, w))
    for g in range(groups):
        group_filters = slice(g * per_group, (g + 1) * per_group)
        np.matmul(group_cols[:, :, g, :].reshape(len(cols), -1), _filter_matrix(w[group_filters]),
                  out=out[:, group_filters])
    if b is not None:
        out += b
    out = out.reshape(n_examples, oh, ow, filters).transpose(0, 3, 1, 2)
    return out, (x.shape, cols, w, b is not None, stride, pad, dilation, groups)


def conv2d_backward(dout, cache):
    """Backward of conv2d_forward with matrix multiplies and col2im.

    With dout laid out as a matrix (N·OH·OW, K):
        dw_matrix = colsᵀ @ dout         (FH·FW·D, K)
        dcols     = dout @ filter_matrixᵀ (N·OH·OW, FH·FW·D), then col2im adds rows back.
    """
    input_shape, cols, w, has_bias, stride, pad, dilation, groups = cache
    n_examples, filters, oh, ow = dout.shape
    _, group_depth, fh, fw = w.shape
    dout_matrix = dout.transpose(0, 2, 3, 1).reshape(-1, filters)
    group_cols = cols.reshape(len(cols), fh * fw, groups, group_depth)
    dcols = np.empty_like(group_cols)
    dw = np.empty_like(w)
    per_group = filters // groups
    for g in range(groups):
        group_filters = slice(g * per_group, (g + 1) * per_group)
        dout_group = dout_matrix[:, group_filters]
        columns = group_cols[:, :, g, :].reshape(len(cols), -1)
        dw_matrix = columns.T @ dout_group
        dw[group_filters] = dw_matrix.reshape(fh, fw, group_depth, per_group).transpose(3, 2, 0, 1)
        dcols[:, :, g, :] = (dout_group @ _filter_matrix(w[group_filters]).T).reshape(len(cols), fh * fw, group_depth)
    dx = col2im(dcols.reshape(len(cols), -1), input_shape, (fh, fw), (oh, ow), stride, pad, dilation)
    db = dout_matrix.sum(axis=0) if has_bias else None
    return dx, dw, db
