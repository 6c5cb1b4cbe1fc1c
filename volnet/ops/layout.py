"""Where the numbers of a volume batch lie in memory: padding, channel-last copies, strided views.

volnet's fast ops work channel-last: an (N, D, H, W) batch held in memory as (N, H, W, D),
so that the D numbers of one position are neighbours and a receptive field's rows are runs
of memory. Every conv's output is returned that way (a (N, D, H, W) view of (N, H, W, D)
memory), so the next layer reads it in order. The functions here make and undo those layouts;
no arithmetic happens in them.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import as_strided

from volnet.ops.parallel import map_split


def zero_pad(x: np.ndarray, pad: tuple[int, int], value: float = 0.0) -> np.ndarray:
    """Pad the two spatial axes of x (N, D, H, W) with `pad` = (P_h, P_w) on each side."""
    pad_h, pad_w = pad
    if pad_h == 0 and pad_w == 0:
        return x
    return np.pad(x, ((0, 0), (0, 0), (pad_h, pad_h), (pad_w, pad_w)), constant_values=value)


def unpad(x_pad: np.ndarray, pad: tuple[int, int], hw: tuple[int, int]) -> np.ndarray:
    """The inverse of zero_pad, without a copy: (N, D, H + 2P_h, W + 2P_w) -> (N, D, H, W)."""
    (pad_h, pad_w), (height, width) = pad, hw
    return x_pad[:, :, pad_h:pad_h + height, pad_w:pad_w + width]


def is_channel_last(x: np.ndarray) -> bool:
    """Whether an (N, D, H, W) array lies in memory as (N, H, W, D), in order."""
    return x.transpose(0, 2, 3, 1).flags.c_contiguous


def empty_nhwc(shape_nhwc, dtype, channel_last: bool = True) -> np.ndarray:
    """An uninitialised (N, H, W, D) array, or an (N, H, W, D) view of (N, D, H, W) memory."""
    if channel_last:
        return np.empty(shape_nhwc, dtype)
    n, height, width, depth = shape_nhwc
    return np.empty((n, depth, height, width), dtype).transpose(0, 2, 3, 1)


def pad_channel_last(x: np.ndarray, pad: tuple[int, int], grow: tuple[int, int] = (0, 0)) -> np.ndarray:
    """x (N, D, H, W), any memory layout, zero-padded and copied once to (N, H + 2P_h, W + 2P_w, D),
    or to (N, H + 2P_h + grow_h, W + 2P_w + grow_w, D) with `grow` more zero rows and columns
    below and to the right (Winograd's tiles of an odd-sized output, conv_winograd.py; an input
    gradient's rows that the convolution never reads, conv_im2col.py).

    A batch that is already channel-last in memory (a conv's output) is copied in order; only
    the border is zeroed, not the whole array. Halves of the batch are copied on separate
    cores (volnet.ops.parallel): a copy that transposes the layout is slow enough to gain.
    """
    n, depth, height, width = x.shape
    pad_h, pad_w = pad
    x_pad = np.empty((n, height + 2 * pad_h + grow[0], width + 2 * pad_w + grow[1], depth), dtype=x.dtype)

    def copy(part):
        x_pad[part, pad_h:pad_h + height, pad_w:pad_w + width, :] = x[part].transpose(0, 2, 3, 1)

    map_split(copy, n, parts=2)
    for border in (x_pad[:, :pad_h], x_pad[:, pad_h + height:], x_pad[:, :, :pad_w], x_pad[:, :, pad_w + width:]):
        border.fill(0)
    return x_pad


def as_channel_last(x: np.ndarray) -> np.ndarray:
    """x (N, D, H, W) as a C-contiguous (N, H, W, D) array: a view when it lies so in memory, else a copy."""
    return x.transpose(0, 2, 3, 1) if is_channel_last(x) else pad_channel_last(x, (0, 0))


def unpad_channel_last(x_pad: np.ndarray, pad: tuple[int, int], hw: tuple[int, int]) -> np.ndarray:
    """The inverse of pad_channel_last, without a copy: (N, Hp, Wp, D) -> an (N, D, H, W) view."""
    (pad_h, pad_w), (height, width) = pad, hw
    return x_pad[:, pad_h:pad_h + height, pad_w:pad_w + width, :].transpose(0, 3, 1, 2)


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
