"""im2col and col2im: convolution as one matrix multiply.

Every output position (n, i, j) of a convolution looks at one receptive field: a
F×F×D block of the padded input. Lay each block out as one row and the rows of all
N·OH·OW positions form the matrix `cols` (N·OH·OW, F·F·D). Lay each of the K filters out
the same way as a column of `filter_matrix` (F·F·D, K). Then

    out = cols @ filter_matrix + b          # (N·OH·OW, K): one dot product per entry

is the whole forward pass. Rows are laid out channel-last (fh, fw, d) so the view from
which they are copied walks memory in order: the input is transposed to (N, H, W, D) once,
and `window_view` is a strided view with no copy; `cols` is the one copy.

col2im is the adjoint: it adds every row of `dcols` back onto the F×F×D block it came
from. Overlapping blocks (stride < F) add up, which is why it is a sum over the F·F window
offsets, each a strided slice of the padded input — F·F vectorised adds, no per-pixel loop.

Small example: a 1×4×4 input (depth 1), F=2, S=2, P=0 has OH=OW=2, so `cols` is 4×4:
rows are the four non-overlapping 2×2 blocks, read row by row.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import as_strided


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


def im2col(
    x: np.ndarray,
    window: tuple[int, int],
    out_hw: tuple[int, int],
    stride: tuple[int, int],
    pad: tuple[int, int],
    dilation: tuple[int, int] = (1, 1),
) -> np.ndarray:
    """Copy every receptive field of x into one row of a matrix.

    Args:
        x: the input volume batch, (N, D, H, W) — any memory layout; a batch that is
            channel-last in memory (the output of a previous conv) is read without a copy.

    Returns:
        cols: (N·OH·OW, FH·FW·D), row (n·OH + i)·OW + j holds the field of output (n, i, j)
        in (fh, fw, d) order.
    """
    x_nhwc = np.ascontiguousarray(zero_pad(x, pad).transpose(0, 2, 3, 1))
    fields = window_view(x_nhwc, window, out_hw, stride, dilation)
    n, oh, ow, fh, fw, depth = fields.shape
    return fields.reshape(n * oh * ow, fh * fw * depth)


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
    (fh, fw), (oh, ow), (sh, sw), (pad_h, pad_w), (dh, dw) = window, out_hw, stride, pad, dilation
    fields = dcols.reshape(n, oh, ow, fh, fw, depth)
    dx_padded = np.zeros((n, height + 2 * pad_h, width + 2 * pad_w, depth), dtype=dcols.dtype)
    for a in range(fh):
        for b in range(fw):
            rows = slice(a * dh, a * dh + sh * (oh - 1) + 1, sh)
            columns = slice(b * dw, b * dw + sw * (ow - 1) + 1, sw)
            dx_padded[:, rows, columns, :] += fields[:, :, :, a, b, :]
    dx = dx_padded[:, pad_h:pad_h + height, pad_w:pad_w + width, :]
    return dx.transpose(0, 3, 1, 2)
