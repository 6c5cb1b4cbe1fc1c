"""im2col and col2im: convolution as one matrix multiply.

Every output position (n, i, j) of a convolution looks at one receptive field: a
F×F×D block of the padded input. Lay each block out as one row and the rows of all
N·OH·OW positions form the matrix `cols` (N·OH·OW, F·F·D). Lay each of the K filters out
the same way as a column of `filter_matrix` (F·F·D, K). Then

    out = cols @ filter_matrix + b          # (N·OH·OW, K): one dot product per entry

is the whole forward pass. Rows are laid out channel-last (fh, fw, d) so the view from
which they are copied walks memory in order: the input is transposed to (N, H, W, D) once,
and `window_view` is a strided view with no copy; `cols` is the one copy.

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
offsets, each a strided slice of the padded input — F·F vectorised adds, no per-pixel loop.

Small example: a 1×4×4 input (depth 1), F=2, S=2, P=0 has OH=OW=2, so `cols` is 4×4:
rows are the four non-overlapping 2×2 blocks, read row by row.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import as_strided

from volnet.ops.parallel import map_chunks


def zero_pad(x: np.ndarray, pad: tuple[int, int], value: float = 0.0) -> np.ndarray:
    """Pad the two spatial axes of x (N, D, H, W) with `pad` = (P_h, P_w) on each side."""
    pad_h, pad_w = pad
    if pad_h == 0 and pad_w == 0:
        return x
    return np.pad(x, ((0, 0), (0, 0), (pad_h, pad_h), (pad_w, pad_w)), constant_values=value)


def window_view(
    x_nhwc: np.ndarray,
    window: tuple[int, int],
    out_hw: tuple[int, int],
    stride: tuple[int, int],
    dilation: tuple[int, int] = (1, 1),
) -> np.ndarray:
    """A read-only strided view of every receptive field of a channel-last volume.

    Args:
        x_nhwc: the padded input, (N, Hp, Wp, D).
        window: (FH, FW); out_hw: (OH, OW); stride: (S_h, S_w); dilation: (d_h, d_w).

    Returns:
        (N, OH, OW, FH, FW, D), sharing memory with x_nhwc: entry [n, i, j, a, b, d] is
        x_nhwc[n, i·S_h + a·d_h, j·S_w + b·d_w, d].
    """
    n_stride, h_stride, w_stride, d_stride = x_nhwc.strides
    (fh, fw), (oh, ow), (sh, sw), (dh, dw) = window, out_hw, stride, dilation
    return as_strided(
        x_nhwc,
        shape=(x_nhwc.shape[0], oh, ow, fh, fw, x_nhwc.shape[3]),
        strides=(n_stride, h_stride * sh, w_stride * sw, h_stride * dh, w_stride * dw, d_stride),
        writeable=False,
    )


def pad_channel_last(x: np.ndarray, pad: tuple[int, int], grow: tuple[int, int] = (0, 0)) -> np.ndarray:
    """x (N, D, H, W), any memory layout, zero-padded and copied once to (N, H + 2P_h, W + 2P_w, D),
    or to (N, H + 2P_h + grow_h, W + 2P_w + grow_w, D) with `grow` more zero rows and columns
    below and to the right (Winograd's tiles of an odd-sized output, winograd.py).

    A batch that is already channel-last in memory (a conv's output) is copied in order; only
    the border is zeroed, not the whole array. Halves of the batch are copied on separate
    cores (volnet.ops.parallel): a copy that transposes the layout is slow enough to gain.
    """
    n, depth, height, width = x.shape
    pad_h, pad_w = pad
    x_pad = np.empty((n, height + 2 * pad_h + grow[0], width + 2 * pad_w + grow[1], depth), dtype=x.dtype)

    def copy(part):
        x_pad[part, pad_h:pad_h + height, pad_w:pad_w + width, :] = x[part].transpose(0, 2, 3, 1)

    map_chunks(copy, [slice(0, n // 2), slice(n // 2, n)] if n > 1 else [slice(0, n)])
    for border in (x_pad[:, :pad_h], x_pad[:, pad_h + height:], x_pad[:, :, :pad_w], x_pad[:, :, pad_w + width:]):
        border.fill(0)
    return x_pad


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
        output (n, i, j) in (fh, fw, d) order.
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
    return fields.reshape(n * oh * ow, fh * fw * depth)


def add_window_taps(dx_pad: np.ndarray, taps: np.ndarray, stride: tuple[int, int], dilation: tuple[int, int]):
    """The scatter half of col2im: add each window offset's gradients onto the positions it read.

    Args:
        dx_pad: (N, Hp, Wp, D), the padded input's gradient, added to in place.
        taps: (N, OH, OW, FH, FW, D) or any view of it: taps[n, i, j, a, b] is the gradient
            for x_pad[n, i·S_h + a·d_h, j·S_w + b·d_w]. Give it as a tap-major array
            (FH, FW, N, OH, OW, D) transposed, and each add walks OW·D numbers in order.
    """
    _, oh, ow, fh, fw, _ = taps.shape
    (sh, sw), (dh, dw) = stride, dilation
    for a in range(fh):
        for b in range(fw):
            rows = slice(a * dh, a * dh + sh * (oh - 1) + 1, sh)
            columns = slice(b * dw, b * dw + sw * (ow - 1) + 1, sw)
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


def unpad_channel_last(x_pad: np.ndarray, pad: tuple[int, int], hw: tuple[int, int]) -> np.ndarray:
    """The inverse of pad_channel_last, without a copy: (N, Hp, Wp, D) -> an (N, D, H, W) view."""
    (pad_h, pad_w), (height, width) = pad, hw
    return x_pad[:, pad_h:pad_h + height, pad_w:pad_w + width, :].transpose(0, 3, 1, 2)
