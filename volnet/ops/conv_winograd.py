"""Winograd F(2×2, 3×3): a 3×3 stride-1 convolution with 2.25× fewer multiplies than im2col.

Each 2×2 block of output reads a 4×4 window d of the padded input (the windows of
neighbouring blocks overlap by 2). Per window and per pair (input channel, filter):

    y = Aᵀ [ (G g Gᵀ) ⊙ (Bᵀ d B) ] A        (Lavin & Gray, "Fast Algorithms for
                                              Convolutional Neural Networks", 2016)

    Bᵀ = [1  0 −1  0]     G = [1    0    0 ]     Aᵀ = [1  1  1  0]
         [0  1  1  0]         [1/2  1/2  1/2]          [0  1 −1 −1]
         [0 −1  1  0]         [1/2 −1/2  1/2]
         [0  1  0 −1]         [0    0    1 ]

Summed over the D input channels, the 16 products ξ of the 4×4 transformed tiles become
16 matrix multiplies over all tiles at once:

    V[ξ] (tiles, D) = Bᵀ d B of every window        U[ξ] (D, K) = G g Gᵀ of every filter
    M[ξ] = V[ξ] @ U[ξ]                               y = Aᵀ M A + b, block by block

16·D·K multiplies per 2×2 outputs against im2col's 4·9·D·K. The backward pass runs the
same steps backwards (each line the adjoint of one above):

    M_grad  = A dy Aᵀ                            (∂L/∂M, block by block)
    U_grad[ξ] = V[ξ]ᵀ @ M_grad[ξ],  dw = Gᵀ U_grad G    (summed over all tiles)
    V_grad[ξ] = M_grad[ξ] @ U[ξ]ᵀ,  dx_pad += B V_grad Bᵀ on each 4×4 window

The tile transforms are loops NumPy cannot vectorise without copying every window, so
they are compiled with numba (winograd_kernels.py), an optional dependency
(`pip install numba`, or volnet's extra "fast"). Without numba "winograd" refuses every
convolution (`refusal`) and "auto" takes im2col (volnet.ops.conv.choose_algorithm); so it
does, after one warning, where numba is installed but cannot load (e.g. too old for the
installed NumPy). Results agree with im2col to float32 rounding (the transforms add a few
extra roundings; tests/ops/test_conv.py checks every algorithm against the reference loops).

The two halves of the backward on their own are the same steps: the input gradient of a
3×3 stride-1 convolution is the forward pass of dout, padded by 2 − P, with the rotated
filters (D, K, 3, 3); the filter gradient is the backward pass without its dx.
"""

from __future__ import annotations

import numpy as np

from volnet.ops import compiled
from volnet.ops.conv_im2col import transposed_filters
from volnet.ops.geometry import conv_geometry, conv_gradient_geometry
from volnet.ops.layout import as_channel_last, pad_channel_last, unpad_channel_last
from volnet.ops.parallel import map_batch, one_blas_thread

G = np.array([[1, 0, 0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0, 0, 1]])


def refusal(w_shape, dtypes, stride, pad, dilation, groups, operation="forward") -> str | None:
    """Why Winograd F(2×2, 3×3) cannot compute this convolution, or None when it can: it needs
    3×3 filters, stride 1, no dilation, one group, both operands float32 or both float64,
    numba installed and loading, and for the input gradient P ≤ 2 (dout is padded by 2 − P).

    Args:
        w_shape: (K, D/G, FH, FW). dtypes: the two operands' dtypes (x and w, dout and w, x and dout).
        stride, pad, dilation: (height, width) pairs.
        operation: "forward", "input_gradient" or "filter_gradient".
    """
    if len(w_shape) != 4 or tuple(w_shape[2:]) != (3, 3):
        return f"its filters (K, D/G, FH, FW) = {tuple(w_shape)} are not 3×3"
    if tuple(stride) != (1, 1) or tuple(dilation) != (1, 1) or groups != 1:
        return f"it has stride {tuple(stride)}, dilation {tuple(dilation)} and groups={groups}, not 1, 1 and 1"
    if reason := compiled.dtype_refusal(dtypes):
        return reason
    if operation == "input_gradient" and max(pad) > 2:
        return f"its pad {tuple(pad)} is over 2 (the input gradient pads dout by 2 − P)"
    return compiled.loading_refusal(_kernels)


def _kernels():
    """The compiled tile transforms (importing numba: only when a layer first needs them), or None
    (volnet.ops.compiled.load: numba missing, or, after a warning, unable to load)."""
    return compiled.load("volnet.ops.winograd_kernels",
                         "computes every convolution with im2col instead (set VOLNET_WINOGRAD=0 to silence this)")


def _tiling(out_hw):
    """(TH, TW), the 2×2 blocks that cover an OH×OW output (one more where a side is odd), and
    (2·TH − OH, 2·TW − OW), the zero rows and columns that odd sides grow the arrays by."""
    tiles = (out_hw[0] + 1) // 2, (out_hw[1] + 1) // 2
    return tiles, (2 * tiles[0] - out_hw[0], 2 * tiles[1] - out_hw[1])


def _filter_tiles(w):
    """U (16, D, K) = G g Gᵀ of each filter g = w[k, d] (K, D, 3, 3), in w's dtype."""
    filters, depth = w.shape[:2]
    g = G.astype(w.dtype)
    U = np.tensordot(np.tensordot(g, w, axes=(1, 2)), g, axes=(3, 1))  # (4, K, D, 4): G g Gᵀ
    return np.ascontiguousarray(U.transpose(0, 3, 2, 1)).reshape(16, depth, filters)


def _map_tiles(body, n_examples, tiles, depth, filters):
    """map_batch over chunks with about CHUNK_NUMBERS["stream"] numbers in their largest transformed array."""
    return map_batch(body, n_examples, 16 * tiles[0] * tiles[1] * max(depth, filters))


def _winograd_forward(x, w, b, pad, out_hw):
    """The convolution of x (N, D, H, W) with w (K, D, 3, 3) at stride 1, plus b (K,) or None.

    Returns:
        out (N, K, OH, OW), a view of channel-last memory, and x_pad (N, 2·TH + 2, 2·TW + 2, D),
        the padded channel-last input (grown by a zero row or column where OH or OW is odd),
        which the backward needs.
    """
    kernels, (tiles, grow) = _kernels(), _tiling(out_hw)
    n_examples, depth = x.shape[:2]
    filters = w.shape[0]
    x_pad = pad_channel_last(x, pad, grow)
    U = _filter_tiles(w)
    bias = np.zeros(filters, U.dtype) if b is None else b.astype(U.dtype)
    out = np.empty((n_examples, *out_hw, filters), np.result_type(x_pad, U))

    def forward_chunk(examples):
        count = (examples.stop - examples.start) * tiles[0] * tiles[1]
        V = np.empty((16, count, depth), x_pad.dtype)
        kernels.input_tiles(x_pad[examples], V, *tiles)
        kernels.output_tiles(np.matmul(V, U), bias, out[examples], *tiles)

    _map_tiles(forward_chunk, n_examples, tiles, depth, filters)
    return out.transpose(0, 3, 1, 2), x_pad


def _winograd_backward(dout, x_pad, w, pad, input_hw, input_gradient=True, dw_dtype=None):
    """Backward of _winograd_forward, given dout (N, K, OH, OW) and its x_pad (w is only read
    for dx).

    Returns:
        dx (N, D, H, W) (a view of channel-last memory; None when input_gradient is False),
        dw (K, D, 3, 3) in dw_dtype (w's by default), db (K,).
    """
    kernels, (tiles, grow) = _kernels(), _tiling(dout.shape[2:])
    n_examples, filters = dout.shape[:2]
    depth = x_pad.shape[3]
    # the gradient a net passes back is read in place where it lies channel-last (as_channel_last)
    dy = as_channel_last(dout) if grow == (0, 0) else pad_channel_last(dout, (0, 0), grow)
    U_transposed = np.ascontiguousarray(_filter_tiles(w).transpose(0, 2, 1)) if input_gradient else None  # (16, K, D)
    dx_pad = np.zeros_like(x_pad) if input_gradient else None

    def backward_chunk(examples):
        count = (examples.stop - examples.start) * tiles[0] * tiles[1]
        V = np.empty((16, count, depth), x_pad.dtype)
        M_grad = np.empty((16, count, filters), dy.dtype)
        kernels.input_tiles(x_pad[examples], V, *tiles)
        kernels.gradient_tiles(dy[examples], M_grad, *tiles)
        if input_gradient:
            kernels.input_gradient_tiles(np.matmul(M_grad, U_transposed), dx_pad[examples], *tiles)
        return np.matmul(V.transpose(0, 2, 1), M_grad), dy[examples].sum(axis=(0, 1, 2))

    parts = _map_tiles(backward_chunk, n_examples, tiles, depth, filters)
    U_grad = sum(part for part, _ in parts).reshape(4, 4, depth, filters)
    g = G.astype(U_grad.dtype)
    dw = np.tensordot(g, np.tensordot(g, U_grad, axes=(0, 0)), axes=(0, 1))  # (3, 3, D, K): Gᵀ U_grad G, transposed
    db = sum(part for _, part in parts)
    dx = None if dx_pad is None else unpad_channel_last(dx_pad, pad, input_hw)
    return dx, np.ascontiguousarray(dw.transpose(3, 2, 1, 0), dtype=w.dtype if dw_dtype is None else dw_dtype), db


def _refuse(w_shape, dtypes, stride, pad, dilation, groups, operation):
    reason = refusal(w_shape, dtypes, stride, pad, dilation, groups, operation)
    if reason is not None:
        raise ValueError(f"conv2d algorithm 'winograd' cannot compute this convolution: {reason}; "
                         "use algorithm='im2col' (or 'auto')")


@one_blas_thread
def conv2d_forward_winograd(x, w, b=None, stride=1, pad=0, dilation=1, groups=1):
    """Winograd F(2×2, 3×3) forward (module doc); same arguments and result as conv2d_forward_reference.

    Raises:
        ValueError: a convolution that Winograd cannot compute (refusal says why).
    """
    out_hw, stride, pad, dilation = conv_geometry(x.shape, w.shape, stride, pad, dilation, groups)
    _refuse(w.shape, (x.dtype, w.dtype), stride, pad, dilation, groups, "forward")
    out, x_pad = _winograd_forward(x, w, b, pad, out_hw)
    return out, (x.shape, x_pad, w, b is not None, pad)


@one_blas_thread
def conv2d_backward_winograd(dout, cache, input_gradient=True):
    """Backward of conv2d_forward_winograd: dx (None when input_gradient is False), dw, db (or None)."""
    input_shape, x_pad, w, has_bias, pad = cache
    dx, dw, db = _winograd_backward(dout, x_pad, w, pad, input_shape[2:], input_gradient)
    return dx, dw, db if has_bias else None


@one_blas_thread
def conv2d_input_gradient_winograd(dout, w, input_hw, stride=1, pad=0, dilation=1, groups=1):
    """dx (N, D, H, W): dout (N, K, OH, OW) padded by 2 − P, convolved with the rotated filters."""
    stride, pad, dilation = conv_gradient_geometry("conv2d_input_gradient", input_hw, w.shape[2:], dout.shape[2:],
                                                   stride, pad, dilation)
    _refuse(w.shape, (dout.dtype, w.dtype), stride, pad, dilation, groups, "input_gradient")
    return _winograd_forward(dout, transposed_filters(w, groups), None, (2 - pad[0], 2 - pad[1]), tuple(input_hw))[0]


@one_blas_thread
def conv2d_filter_gradient_winograd(x, dout, filter_hw, stride=1, pad=0, dilation=1, groups=1):
    """dw (K, D, 3, 3): the backward pass of x (N, D, H, W) and dout (N, K, OH, OW) without its dx."""
    stride, pad, dilation = conv_gradient_geometry("conv2d_filter_gradient", x.shape[2:], filter_hw, dout.shape[2:],
                                                   stride, pad, dilation)
    w_shape = (dout.shape[1], x.shape[1] // groups, *filter_hw)
    _refuse(w_shape, (x.dtype, dout.dtype), stride, pad, dilation, groups, "filter_gradient")
    x_pad = pad_channel_last(x, pad, _tiling(dout.shape[2:])[1])
    return _winograd_backward(dout, x_pad, None, pad, x.shape[2:], input_gradient=False,
                              dw_dtype=np.result_type(x, dout))[1]
