"""Convolution as one matrix multiply: im2col, col2im, and the "im2col" algorithm built on them.

Every output position (n, i, j) of a convolution looks at one receptive field: a
F×F×D block of the padded input. Lay each block out as one row and the rows of all
N·OH·OW positions form the matrix `cols` (N·OH·OW, F·F·D). Lay each of the K filters out
the same way as a column of `filter_matrix` (F·F·D, K). Then

    out = cols @ filter_matrix + b          # (N·OH·OW, K): one dot product per entry

is the whole forward pass. Rows are laid out channel-last (fh, fw, d) so the view from
which they are copied walks memory in order: the input is transposed to (N, H, W, D) once,
and `window_view` (volnet.ops.layout) is a strided view with no copy; `field_rows` makes
the rows, the one copy.

Two layouts of the same numbers (`im2col(..., layout=...)`):

    layout="rows"  (volnet's, the default)  cols (N·OH·OW, FH·FW·D), each field a ROW in
                   (fh, fw, d) order; the matching filter matrix is
                   w.transpose(2, 3, 1, 0).reshape(FH·FW·D, K), and out = cols @ that + b.
    layout="notes" (the CS231n notes')      X_col (D·FH·FW, N·OH·OW), each field a COLUMN
                   in (d, fh, fw) order, the order of w.reshape(K, -1) for w (K, D, FH, FW):
                   W_row = w.reshape(K, -1) is (K, D·FH·FW) and out = W_row @ X_col + b[:, None]
                   is (K, N·OH·OW), column (n·OH + i)·OW + j being output (n, :, i, j).

The two are not transposes of each other: a field's numbers are in another order too, so
`w.reshape(K, -1)` against volnet's rows mixes depth slices and gives wrong answers.

col2im is the adjoint: it adds every row of `dcols` back onto the F×F×D block it came
from. Overlapping blocks (stride < F) add up, which is why it is a sum over the F·F window
offsets, each a strided slice of the padded input (`add_window_taps`) — F·F vectorised adds,
no per-pixel loop.

Small example: a 1×4×4 input (depth 1), F=2, S=2, P=0 has OH=OW=2, so `cols` is 4×4:
rows are the four non-overlapping 2×2 blocks, read row by row.

The algorithm (conv2d_forward_im2col and its backward) is exactly that, a chunk of the batch
at a time (volnet.ops.parallel.map_batch, "matrix" chunks) so that each chunk's rows stay in
cache between being written and being multiplied, and one matrix per group of filters:

    forward   out_chunk = field_rows(chunk, group g) @ W_g + b          (W_g: _filter_matrices)
    dw        dw_g += field_rows(chunk, group g)ᵀ @ dout_chunk_g        (rows recomputed from the
                                                                        cached padded input; dout
                                                                        read where it lies, one
                                                                        product per example, when
                                                                        it is not channel-last)
    dx        at stride 1 (and D_g ≥ TRANSPOSED_MIN_DEPTH): dout padded by F_eff − 1 − P and
              correlated with the rotated, transposed filters — the forward pass again;
              otherwise col2im's scatter (add_window_taps) of each tap's dout @ w[:, :, a, b].

Only the padded input, never the whole im2col matrix, is kept for the backward pass.
"""

from __future__ import annotations

import numpy as np

from volnet.ops.geometry import conv_geometry, conv_gradient_geometry, effective_size, window_offsets
from volnet.ops.layout import as_channel_last, is_channel_last, pad_channel_last, unpad_channel_last, window_view
from volnet.ops.parallel import map_batch, one_blas_thread

# At stride 1, dx is a convolution of dout whose matrix multiply has D_g output columns;
# below this depth col2im, which moves D_g rather than K numbers per tap, is faster.
TRANSPOSED_MIN_DEPTH = 16
# From this many output positions per example on, dw reads a dout that is not channel-last
# where it lies (one product per example); below, a channel-last copy of it gives each chunk
# one larger product (docs/performance.md, issue 16, second round: 32×32 outputs gain, 8×8 lose)
IN_PLACE_MIN_POSITIONS = 256


def field_rows(fields: np.ndarray, depth: slice = slice(None)) -> np.ndarray:
    """The im2col rows of a window_view: (n, OH, OW, FH, FW, D) -> (n·OH·OW, FH·FW·D_slice),
    each receptive field one row in (fh, fw, d) order, restricted to a depth slice (a group's).
    A copy, unless the view is already contiguous."""
    n, oh, ow, fh, fw, _ = fields.shape
    part = fields[..., depth]
    return part.reshape(n * oh * ow, fh * fw * part.shape[-1])


def im2col(
    x: np.ndarray,
    window: tuple[int, int],
    out_hw: tuple[int, int],
    stride: tuple[int, int],
    pad: tuple[int, int],
    dilation: tuple[int, int] = (1, 1),
    layout: str = "rows",
) -> np.ndarray:
    """Copy every receptive field of x into one row (or, as the notes do, one column) of a matrix.

    Args:
        x: the input volume batch, (N, D, H, W) — any memory layout; a batch that is
            channel-last in memory (the output of a previous conv) is read in order.
        window: (FH, FW); out_hw: (OH, OW); stride, pad, dilation: (height, width) pairs.
        layout: "rows" (volnet's, what its conv uses) or "notes" (the CS231n notes' X_col);
            see the module doc.

    Returns:
        layout="rows": cols (N·OH·OW, FH·FW·D), row (n·OH + i)·OW + j holds the field of
        output (n, i, j) in (fh, fw, d) order — the rows conv2d_forward_im2col multiplies,
        there made a chunk of the batch (and a group) at a time.
        layout="notes": X_col (D·FH·FW, N·OH·OW), column (n·OH + i)·OW + j holds that field
        in (d, fh, fw) order, so that w.reshape(K, -1) @ X_col is the convolution.

    Raises:
        ValueError: an unknown layout.

    Example (the notes' AlexNet layer: 227×227×3, 96 filters 11×11, stride 4):
        >>> im2col(np.zeros((1, 3, 227, 227)), (11, 11), (55, 55), (4, 4), (0, 0), layout="notes").shape
        (363, 3025)
    """
    if layout not in ("rows", "notes"):
        raise ValueError(f"im2col layout must be 'rows' (volnet's: one field a row, (fh, fw, d) order) or "
                         f"'notes' (the CS231n notes' X_col: one field a column, (d, fh, fw) order), got {layout!r}")
    fields = window_view(pad_channel_last(x, pad), window, out_hw, stride, dilation)
    n, oh, ow, fh, fw, depth = fields.shape
    if layout == "notes":
        return fields.transpose(5, 3, 4, 0, 1, 2).reshape(depth * fh * fw, n * oh * ow)
    return field_rows(fields)


def add_window_taps(dx_pad: np.ndarray, taps: np.ndarray, stride: tuple[int, int], dilation: tuple[int, int]):
    """The scatter half of col2im: add each window offset's gradients onto the positions it read.

    Args:
        dx_pad: (N, Hp, Wp, D), the padded input's gradient, added to in place.
        taps: (N, OH, OW, FH, FW, D) or any view of it: taps[n, i, j, a, b] is the gradient
            for x_pad[n, i·S_h + a·d_h, j·S_w + b·d_w]. Give it as a tap-major array
            (FH, FW, N, OH, OW, D) transposed, and each add walks OW·D numbers in order.
    """
    _, oh, ow, fh, fw, _ = taps.shape
    for a, b, rows, columns in window_offsets((fh, fw), (oh, ow), stride, dilation):
        dx_pad[:, rows, columns, :] += taps[:, :, :, a, b, :]


def col2im(
    dcols: np.ndarray,
    input_shape: tuple[int, int, int, int],
    window: tuple[int, int],
    out_hw: tuple[int, int],
    stride: tuple[int, int],
    pad: tuple[int, int],
    dilation: tuple[int, int] = (1, 1),
) -> np.ndarray:
    """Add each row of dcols back onto the receptive field it came from (the adjoint of im2col).

    Args:
        dcols: (N·OH·OW, FH·FW·D), gradients for the rows of im2col's matrix.
        input_shape: (N, D, H, W) of the unpadded input.

    Returns:
        dx: (N, D, H, W), a channel-last-in-memory view; fields that overlap add up.
    """
    n, depth, height, width = input_shape
    (fh, fw), (oh, ow), (pad_h, pad_w) = window, out_hw, pad
    dx_pad = np.zeros((n, height + 2 * pad_h, width + 2 * pad_w, depth), dtype=dcols.dtype)
    add_window_taps(dx_pad, dcols.reshape(n, oh, ow, fh, fw, depth), stride, dilation)
    return unpad_channel_last(dx_pad, pad, (height, width))


def _filter_matrices(w, groups):
    """Filters (K, Dg, FH, FW) as columns in (fh, fw, d) order: (G, FH·FW·Dg, Kg), one matrix per group."""
    filters, group_depth, fh, fw = w.shape
    matrices = w.reshape(groups, filters // groups, group_depth, fh, fw).transpose(0, 3, 4, 2, 1)
    return matrices.reshape(groups, fh * fw * group_depth, filters // groups)


def _correlate(x_pad, matrices, window, out_hw, stride, dilation, bias=None):
    """out[n, i, j] = field_rows(receptive field of output (i, j) in x_pad) @ matrices + bias, chunk by chunk.

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
            np.matmul(field_rows(fields[chunk], slice(g * group_depth, (g + 1) * group_depth)), matrices[g],
                      out=out_rows[:, g * per_group:(g + 1) * per_group])
        if bias is not None:
            out_rows += bias  # while the chunk is in cache

    # chunks sized by the larger of the rows and the output: a 1-deep input has 9 numbers
    # per field and 32 outputs
    map_batch(correlate_chunk, len(x_pad), max(fields[0].size, out[0].size), "matrix")
    return out


@one_blas_thread
def conv2d_forward_im2col(x, w, b=None, stride=1, pad=0, dilation=1, groups=1):
    """Convolution as im2col rows times the filter matrices, a chunk of the batch at a time (module doc).

    Same arguments and result as conv2d_forward_reference. The output is returned as a
    (N, K, OH, OW) view of channel-last memory, which the next layer reads in order.
    """
    out_hw, stride, pad, dilation = conv_geometry(x.shape, w.shape, stride, pad, dilation, groups)
    x_pad = pad_channel_last(x, pad)
    out = _correlate(x_pad, _filter_matrices(w, groups), w.shape[2:], out_hw, stride, dilation, b)
    return out.transpose(0, 3, 1, 2), (x.shape, x_pad, w, b is not None, stride, pad, dilation, groups)


def transposed_filters(w, groups):
    """The filters of the backward convolution: (K, Dg, FH, FW) -> (D, Kg, FH, FW), each
    rotated by 180°, so that dx = dout correlated with them (at stride 1)."""
    filters, group_depth, fh, fw = w.shape
    per_group = filters // groups
    flipped = w.reshape(groups, per_group, group_depth, fh, fw)[:, :, :, ::-1, ::-1]
    return flipped.transpose(0, 2, 1, 3, 4).reshape(groups * group_depth, per_group, fh, fw)


def _full_pad(w_shape, pad, dilation):
    """F_eff − 1 − P per axis: the padding of dout that makes dx its convolution at stride 1."""
    return tuple(effective_size(f, d) - 1 - p for f, d, p in zip(w_shape[2:], dilation, pad))


def _transposed_suits(w_shape, stride, pad, dilation):
    """Whether dx is computed as a convolution of dout: stride 1, F_eff − 1 − P ≥ 0, and
    groups at least TRANSPOSED_MIN_DEPTH deep; col2im otherwise."""
    return stride == (1, 1) and min(_full_pad(w_shape, pad, dilation)) >= 0 and w_shape[1] >= TRANSPOSED_MIN_DEPTH


def dx_by_transposed_convolution(dout_pad, w, input_hw, dilation, groups):
    """dx at stride 1 as the forward pass of dout: dout_pad (N, OH + 2Q_h, OW + 2Q_w, K), dout
    padded channel-last by Q = F_eff − 1 − P, correlated with the rotated filters (D, Kg, FH, FW).

    Returns:
        dx (N, D, H, W), a view of channel-last memory.
    """
    dx = _correlate(dout_pad, _filter_matrices(transposed_filters(w, groups), groups),
                    w.shape[2:], input_hw, (1, 1), dilation)
    return dx.transpose(0, 3, 1, 2)


def dx_by_col2im(dout_nhwc, w, input_hw, stride, pad, dilation, groups, dtype):
    """dx as col2im of dcols = dout @ w: each tap's (n·OH·OW, Dg) block, dout_rows @ w[:, :, a, b],
    added back where that tap read (add_window_taps), a chunk of the batch at a time.

    Args:
        dout_nhwc: (N, OH, OW, K), channel-last (any strides). dtype: dx's.
    Returns:
        dx (N, D, H, W), a view of channel-last memory; rows and columns that no window reads get 0.
    """
    n_examples, oh, ow, filters = dout_nhwc.shape
    _, group_depth, fh, fw = w.shape
    per_group = filters // groups
    (height, width), (pad_h, pad_w) = input_hw, pad
    # (G, FH·FW, Kg, Dg): the filters' taps, one (Kg, Dg) matrix per offset (a, b)
    taps_weights = w.reshape(groups, per_group, group_depth, fh * fw).transpose(0, 3, 1, 2)
    dx_pad = np.zeros((n_examples, height + 2 * pad_h, width + 2 * pad_w, groups * group_depth), dtype)

    def dx_chunk(chunk):
        rows = dout_nhwc[chunk].reshape(-1, filters)
        count = chunk.stop - chunk.start
        for g in range(groups):
            taps = np.matmul(rows[:, g * per_group:(g + 1) * per_group], taps_weights[g])
            add_window_taps(dx_pad[chunk, :, :, g * group_depth:(g + 1) * group_depth],
                            taps.reshape(fh, fw, count, oh, ow, group_depth).transpose(2, 3, 4, 0, 1, 5),
                            stride, dilation)

    map_batch(dx_chunk, n_examples, oh * ow * fh * fw * groups * group_depth, "matrix")
    return unpad_channel_last(dx_pad, pad, input_hw)


def _filter_gradient(fields, dout, groups, has_bias):
    """dw (K, Dg, FH, FW) = Σ over chunks of field_rowsᵀ @ dout rows, per group; db (K,) or None.

    dout (N, K, OH, OW) in any memory layout: where each position's K numbers are neighbours
    (channel-last) a chunk's dout rows are one (n·OH·OW, K) matrix and one product per chunk;
    otherwise one (OH·OW, K) matrix per example, which BLAS reads as the transpose of
    (K, OH·OW) memory, so dout is not copied.
    """
    n_examples, oh, ow, fh, fw, depth = fields.shape
    filters = dout.shape[1]
    per_group, group_depth = filters // groups, depth // groups

    def dw_db_chunk(chunk):
        positions = dout[chunk].transpose(0, 2, 3, 1)  # (n, OH, OW, K)
        if positions.strides[3] == positions.itemsize:  # channel-last: one matrix (a copy only if strided)
            dout_rows = positions.reshape(1, -1, filters)
        else:  # (n, OH·OW, K), a view of (N, K, OH, OW) memory
            dout_rows = dout[chunk].reshape(-1, filters, oh * ow).transpose(0, 2, 1)
        dw_part = np.stack([
            np.matmul(field_rows(fields[chunk], slice(g * group_depth, (g + 1) * group_depth))
                      .reshape(len(dout_rows), -1, fh * fw * group_depth).transpose(0, 2, 1),
                      dout_rows[:, :, g * per_group:(g + 1) * per_group]).sum(axis=0)
            for g in range(groups)])
        return dw_part, dout_rows.sum(axis=(0, 1))

    parts = map_batch(dw_db_chunk, n_examples, fields[0].size, "matrix")
    dw_matrices = sum(dw_part for dw_part, _ in parts)
    dw = dw_matrices.reshape(groups, fh, fw, group_depth, per_group).transpose(0, 4, 3, 1, 2)
    db = sum(db_part for _, db_part in parts) if has_bias else None
    return dw.reshape(filters, group_depth, fh, fw), db


def _read_in_place(dout):
    """Whether dw reads dout (N, K, OH, OW) where it lies: channel-last memory, or at least
    IN_PLACE_MIN_POSITIONS outputs per example; else from a channel-last copy."""
    return is_channel_last(dout) or dout.shape[2] * dout.shape[3] >= IN_PLACE_MIN_POSITIONS


@one_blas_thread
def conv2d_backward_im2col(dout, cache, input_gradient=True):
    """Backward of conv2d_forward_im2col, a chunk of the batch at a time (module doc).

    With input_gradient=False only dw and db are computed and dx is None (a net's first
    layer: nothing uses the gradient of the images). dw reads dout where it lies when each
    example has at least IN_PLACE_MIN_POSITIONS outputs (or dout is channel-last already);
    otherwise one channel-last copy of dout serves dw, db and dx (the padded one when dx is a
    convolution of it).
    """
    input_shape, x_pad, w, has_bias, stride, pad, dilation, groups = cache
    oh, ow = dout.shape[2:]
    transposed = input_gradient and _transposed_suits(w.shape, stride, pad, dilation)
    if transposed:
        border = _full_pad(w.shape, pad, dilation)
        dout_pad = pad_channel_last(dout, border)
        if not _read_in_place(dout):  # the padded copy's interior is the channel-last copy
            dout = dout_pad[:, border[0]:border[0] + oh, border[1]:border[1] + ow].transpose(0, 3, 1, 2)
    elif not _read_in_place(dout):
        dout = as_channel_last(dout).transpose(0, 3, 1, 2)
    fields = window_view(x_pad, w.shape[2:], (oh, ow), stride, dilation)
    dw, db = _filter_gradient(fields, dout, groups, has_bias)
    if not input_gradient:
        return None, dw, db
    if transposed:
        return dx_by_transposed_convolution(dout_pad, w, input_shape[2:], dilation, groups), dw, db
    return (dx_by_col2im(as_channel_last(dout), w, input_shape[2:], stride, pad, dilation, groups, x_pad.dtype),
            dw, db)


@one_blas_thread
def conv2d_input_gradient_im2col(dout, w, input_hw, stride=1, pad=0, dilation=1, groups=1):
    """dx (N, D, H, W) of a convolution with filters w, from dout (N, K, OH, OW) alone: the
    transposed convolution or col2im, as in conv2d_backward_im2col."""
    stride, pad, dilation = conv_gradient_geometry("conv2d_input_gradient", input_hw, w.shape[2:], dout.shape[2:],
                                                   stride, pad, dilation)
    if _transposed_suits(w.shape, stride, pad, dilation):
        return dx_by_transposed_convolution(pad_channel_last(dout, _full_pad(w.shape, pad, dilation)), w,
                                            tuple(input_hw), dilation, groups)
    return dx_by_col2im(as_channel_last(dout), w, tuple(input_hw), stride, pad, dilation, groups,
                        np.result_type(dout, w))


@one_blas_thread
def conv2d_filter_gradient_im2col(x, dout, filter_hw, stride=1, pad=0, dilation=1, groups=1):
    """dw (K, D/G, FH, FW) of a convolution of x (N, D, H, W) that gave dout (N, K, OH, OW):
    Σ field_rowsᵀ @ dout rows, as in conv2d_backward_im2col."""
    stride, pad, dilation = conv_gradient_geometry("conv2d_filter_gradient", x.shape[2:], filter_hw, dout.shape[2:],
                                                   stride, pad, dilation)
    fields = window_view(pad_channel_last(x, pad), tuple(filter_hw), dout.shape[2:], stride, dilation)
    dout = dout if _read_in_place(dout) else as_channel_last(dout).transpose(0, 3, 1, 2)
    return _filter_gradient(fields, dout, groups, has_bias=False)[0]
