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

from volnet.ops import winograd
from volnet.ops.geometry import output_size, pair
from volnet.ops.im2col import (
    add_window_taps,
    pad_channel_last,
    unpad_channel_last,
    window_view,
    zero_pad,
)
from volnet.ops.parallel import batch_slices, map_chunks


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


def _receptive_fields(n_examples, w, groups, out_hw, stride, dilation):
    """Slide every filter over every example: yields (n, k, i, j, field), where
    x_pad[field] = x_pad[n, depth slice of filter k's group, rows, columns] is the region
    that output (n, k, i, j) sees."""
    filters, group_depth, fh, fw = w.shape
    (sh, sw), (dh, dw) = stride, dilation
    for n in range(n_examples):
        for k in range(filters):
            group = k // (filters // groups)
            depth = slice(group * group_depth, (group + 1) * group_depth)
            for i in range(out_hw[0]):
                for j in range(out_hw[1]):
                    rows = slice(i * sh, i * sh + dh * (fh - 1) + 1, dh)
                    columns = slice(j * sw, j * sw + dw * (fw - 1) + 1, dw)
                    yield n, k, i, j, (n, depth, rows, columns)


def conv2d_forward_reference(x, w, b=None, stride=1, pad=0, dilation=1, groups=1):
    """Convolution by plain loops over examples, filters and output positions (see module doc).

    Returns:
        out (N, K, OH, OW); cache for conv2d_backward_reference.
    """
    out_hw, stride, pad, dilation = _geometry(x, w, stride, pad, dilation, groups)
    x_pad = zero_pad(x, pad)
    out = np.zeros((x.shape[0], w.shape[0], *out_hw), dtype=np.result_type(x, w))
    for n, k, i, j, field in _receptive_fields(x.shape[0], w, groups, out_hw, stride, dilation):
        out[n, k, i, j] = np.sum(x_pad[field] * w[k]) + (0 if b is None else b[k])
    return out, (x, w, b, stride, pad, dilation, groups)


def conv2d_backward_reference(dout, cache):
    """Backward of conv2d_forward_reference: route each dout[n, k, i, j] back through its dot product.

    Returns:
        dx (N, D, H, W), dw (K, D/G, FH, FW), db (K,) or None when there is no bias.
    """
    x, w, b, stride, pad, dilation, groups = cache
    x_pad = zero_pad(x, pad)
    dx_pad = np.zeros_like(x_pad)
    dw = np.zeros_like(w)
    for n, k, i, j, field in _receptive_fields(x.shape[0], w, groups, dout.shape[2:], stride, dilation):
        dx_pad[field] += dout[n, k, i, j] * w[k]
        dw[k] += dout[n, k, i, j] * x_pad[field]
    height, width = x.shape[2:]
    dx = dx_pad[:, :, pad[0]:pad[0] + height, pad[1]:pad[1] + width]
    db = None if b is None else dout.sum(axis=(0, 2, 3))
    return dx, dw, db


# The matrix version works on a few images at a time, so that each chunk's im2col matrix
# (F·F times the chunk's input) stays in cache between being written and being multiplied,
# and only the padded input, never the whole im2col matrix, is kept for the backward pass.
CHUNK_NUMBERS = 1 << 19
# At stride 1, dx is a convolution of dout whose matrix multiply has D_g output columns;
# below this depth col2im, which moves D_g rather than K numbers per tap, is faster.
TRANSPOSED_MIN_DEPTH = 16


def _chunks(n_examples, numbers_per_example):
    """Slices of the batch, each holding about CHUNK_NUMBERS numbers of im2col matrix (or of
    output, where that is larger: a 1-deep input has 9 numbers per field and 32 outputs)."""
    return batch_slices(n_examples, numbers_per_example, CHUNK_NUMBERS)


def _group_fields(fields, g, group_depth):
    """The im2col rows of group g: (n·OH·OW, FH·FW·Dg), a copy unless the view is contiguous."""
    n, oh, ow, fh, fw, _ = fields.shape
    depth = slice(g * group_depth, (g + 1) * group_depth)
    return fields[..., depth].reshape(n * oh * ow, fh * fw * group_depth)


def _filter_matrices(w, groups):
    """Filters (K, Dg, FH, FW) as columns in (fh, fw, d) order: (G, FH·FW·Dg, Kg), one matrix per group."""
    filters, group_depth, fh, fw = w.shape
    matrices = w.reshape(groups, filters // groups, group_depth, fh, fw).transpose(0, 3, 4, 2, 1)
    return matrices.reshape(groups, fh * fw * group_depth, filters // groups)


def _correlate(x_pad, matrices, window, out_hw, stride, dilation, bias=None):
    """out[n, i, j] = (receptive field of output (i, j) in x_pad) @ matrices + bias, chunk by chunk.

    Args:
        x_pad: (N, Hp, Wp, D), padded and channel-last. matrices: (G, FH·FW·Dg, Kg). bias: (K,) or None.
    Returns:
        out: (N, OH, OW, K), K = G·Kg.
    """
    groups, _, per_group = matrices.shape
    group_depth = x_pad.shape[3] // groups
    out = np.empty((x_pad.shape[0], *out_hw, groups * per_group), dtype=np.result_type(x_pad, matrices))
    fields = window_view(x_pad, window, out_hw, stride, dilation)

    def correlate_chunk(chunk):
        out_rows = out[chunk].reshape(-1, out.shape[3])
        for g in range(groups):
            np.matmul(_group_fields(fields[chunk], g, group_depth), matrices[g],
                      out=out_rows[:, g * per_group:(g + 1) * per_group])
        if bias is not None:
            out_rows += bias  # while the chunk is in cache

    map_chunks(correlate_chunk, _chunks(len(x_pad), max(fields[0].size, out[0].size)))
    return out


def conv2d_forward(x, w, b=None, stride=1, pad=0, dilation=1, groups=1):
    """Convolution as im2col + matrix multiply, a chunk of the batch at a time.

    Filters are laid out as columns in (fh, fw, d) order, W_g (FH·FW·Dg, Kg) per group,
    and each chunk's rows of im2col multiply them: out_chunk = cols_chunk @ W_g + b.
    Layers that winograd.suits (3×3, stride 1, at least 16 deep, float32 or float64, numba
    installed) are
    computed with Winograd F(2×2, 3×3) instead, forward and backward (winograd.py).

    Same arguments and result as conv2d_forward_reference. The output is returned as a
    (N, K, OH, OW) view of channel-last memory, which the next layer reads in order.
    """
    out_hw, stride, pad, dilation = _geometry(x, w, stride, pad, dilation, groups)
    use_winograd = winograd.suits(x, w, stride, dilation, groups)
    if use_winograd:
        out, x_pad = winograd.winograd_forward(x, w, b, pad, out_hw)
    else:
        x_pad = pad_channel_last(x, pad)
        out = _correlate(x_pad, _filter_matrices(w, groups), w.shape[2:], out_hw, stride, dilation, b)
        out = out.transpose(0, 3, 1, 2)
    return out, (x.shape, x_pad, w, b is not None, stride, pad, dilation, groups, use_winograd)


def _transposed_filters(w, groups):
    """The filters of the backward convolution: (K, Dg, FH, FW) -> (D, Kg, FH, FW), each
    rotated by 180°, so that dx = dout correlated with them (at stride 1)."""
    filters, group_depth, fh, fw = w.shape
    per_group = filters // groups
    flipped = w.reshape(groups, per_group, group_depth, fh, fw)[:, :, :, ::-1, ::-1]
    return flipped.transpose(0, 2, 1, 3, 4).reshape(groups * group_depth, per_group, fh, fw)


def conv2d_backward(dout, cache, input_gradient=True):
    """Backward of conv2d_forward, a chunk of the batch at a time.

    With input_gradient=False only dw and db are computed and dx is None (a net's first
    layer: nothing uses the gradient of the images).

    With a chunk of dout laid out as a matrix (n·OH·OW, K) and the chunk's im2col rows
    recomputed from the cached padded input:
        dw_matrix += colsᵀ @ dout                          (FH·FW·D, K)
    dx is the "full" convolution of dout with the rotated filters (module doc). At stride 1
    it is computed as one: dout padded by F_eff − 1 − P, correlated with _transposed_filters,
    the same im2col + matrix multiply as the forward pass. At larger strides each filter
    offset's (n·OH·OW, D) block of dout @ w[:, :, a, b] is added back where it was read.
    """
    input_shape, x_pad, w, has_bias, stride, pad, dilation, groups, use_winograd = cache
    if use_winograd:
        dx, dw, db = winograd.winograd_backward(dout, x_pad, w, pad, input_shape[2:], input_gradient)
        return dx, dw, db if has_bias else None
    n_examples, filters, oh, ow = dout.shape
    _, group_depth, fh, fw = w.shape
    per_group = filters // groups
    spans = [d * (f - 1) + 1 for d, f in zip(dilation, (fh, fw))]
    full_pad = tuple(span - 1 - p for span, p in zip(spans, pad))
    transposed = input_gradient and stride == (1, 1) and min(full_pad) >= 0 and group_depth >= TRANSPOSED_MIN_DEPTH
    # one channel-last copy of dout serves dw, db and dx; padded when dx is a convolution of it
    border = full_pad if transposed else (0, 0)
    dout_pad = pad_channel_last(dout, border)
    dout_nhwc = dout_pad[:, border[0]:border[0] + oh, border[1]:border[1] + ow]
    fields = window_view(x_pad, (fh, fw), (oh, ow), stride, dilation)
    chunks = _chunks(n_examples, fields[0].size)

    def dw_db_chunk(chunk):
        rows = dout_nhwc[chunk].reshape(-1, filters)
        dw_part = np.stack([_group_fields(fields[chunk], g, group_depth).T @ rows[:, g * per_group:(g + 1) * per_group]
                            for g in range(groups)])
        return dw_part, rows.sum(axis=0)

    parts = map_chunks(dw_db_chunk, chunks)
    dw_matrices = sum(dw_part for dw_part, _ in parts)
    dw = dw_matrices.reshape(groups, fh, fw, group_depth, per_group).transpose(0, 4, 3, 1, 2).reshape(w.shape)
    db = sum(db_part for _, db_part in parts) if has_bias else None
    if not input_gradient:
        return None, dw, db
    if transposed:
        dx = _correlate(dout_pad, _filter_matrices(_transposed_filters(w, groups), groups),
                        (fh, fw), input_shape[2:], stride, dilation)
        return dx.transpose(0, 3, 1, 2), dw, db
    # (G, FH·FW, Kg, Dg): the filters' taps, one (Kg, Dg) matrix per offset (a, b)
    taps_weights = w.reshape(groups, per_group, group_depth, fh * fw).transpose(0, 3, 1, 2)
    dx_pad = np.zeros_like(x_pad)

    def dx_chunk(chunk):
        rows = dout_nhwc[chunk].reshape(-1, filters)
        count = chunk.stop - chunk.start
        for g in range(groups):
            taps = np.matmul(rows[:, g * per_group:(g + 1) * per_group], taps_weights[g])
            add_window_taps(dx_pad[chunk, :, :, g * group_depth:(g + 1) * group_depth],
                            taps.reshape(fh, fw, count, oh, ow, group_depth).transpose(2, 3, 4, 0, 1, 5),
                            stride, dilation)

    map_chunks(dx_chunk, chunks)
    return unpad_channel_last(dx_pad, pad, input_shape[2:]), dw, db
