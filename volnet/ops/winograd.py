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
(`pip install numba`, or volnet's extra "fast"). Without numba, or with VOLNET_WINOGRAD=0
in the environment, conv.py uses im2col for every layer; so it does, after one warning,
where numba is installed but cannot load (e.g. too old for the installed NumPy). Results agree with im2col to float32 rounding
(the transforms add a few extra roundings; tests/ops/test_winograd.py checks against the
reference loops).
"""

from __future__ import annotations

import functools
import importlib.util
import os
import warnings

import numpy as np

from volnet.ops.im2col import pad_channel_last, unpad_channel_last
from volnet.ops.parallel import batch_slices, map_chunks

G = np.array([[1, 0, 0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0, 0, 1]])

ENABLED = importlib.util.find_spec("numba") is not None and os.environ.get("VOLNET_WINOGRAD") != "0"
# From this input depth on, both the forward pass and forward + backward beat im2col on
# every layer measured; thinner layers are mixed (docs/performance.md, item 15).
MIN_DEPTH = 16
# numba compiles the kernels for these (native byte order) dtypes only; others use im2col
DTYPES = (np.dtype(np.float32), np.dtype(np.float64))
# Each chunk of the batch holds about this many numbers in each of its transformed arrays,
# so the transform, the 16 multiplies and the inverse transform run while they are in cache.
CHUNK_NUMBERS = 1 << 18


def enabled() -> bool:
    """Whether Winograd is on: numba installed and loading, and VOLNET_WINOGRAD not 0."""
    return ENABLED and _kernels() is not None


def suits(x, w, stride, dilation, groups) -> bool:
    """Whether conv.py computes this convolution with Winograd: 3×3 filters, stride 1, no
    dilation, one group, an input at least MIN_DEPTH deep, x and w both float32 or both
    float64, and Winograd enabled()."""
    return (tuple(w.shape[2:]) == (3, 3) and stride == (1, 1) and dilation == (1, 1) and groups == 1
            and w.shape[1] >= MIN_DEPTH and x.dtype == w.dtype and x.dtype in DTYPES and enabled())


@functools.cache
def _kernels():
    """The compiled tile transforms (importing numba: only when a layer first needs them),
    or None, after a warning, when numba is installed but cannot load."""
    try:
        return importlib.import_module("volnet.ops.winograd_kernels")
    except Exception as error:  # numba's failures are of many kinds: ImportError, RuntimeError, ...
        warnings.warn(f"numba is installed but cannot be used ({type(error).__name__}: {error}); volnet computes "
                      "every convolution with im2col instead (set VOLNET_WINOGRAD=0 to silence this)", stacklevel=3)
        return None


def load_kernels(dtype=np.float32) -> None:
    """Import numba and load the tile transforms for dtype (compiled on first use, then read
    from numba's cache), as a layer's first Winograd call would: a one-time cost of the
    process (about 130 MB resident: numba, LLVM and the machine code) that volnet.bench.memory
    pays before it measures a training step."""
    x = np.zeros((1, 1, 2, 2), dtype)
    out, x_pad = winograd_forward(x, np.zeros((1, 1, 3, 3), dtype), None, (1, 1), (2, 2))
    winograd_backward(np.zeros_like(out), x_pad, np.zeros((1, 1, 3, 3), dtype), (1, 1), (2, 2))


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


def _chunks(n_examples, tiles, depth, filters):
    """Slices of the batch, each with about CHUNK_NUMBERS numbers in its largest transformed array."""
    return batch_slices(n_examples, 16 * tiles[0] * tiles[1] * max(depth, filters), CHUNK_NUMBERS)


def winograd_forward(x, w, b, pad, out_hw):
    """The convolution of x (N, D, H, W) with w (K, D, 3, 3) at stride 1, plus b (K,) or None.

    Returns:
        out (N, K, OH, OW), a view of channel-last memory, and x_pad (N, 2·TH + 2, 2·TW + 2, D),
        the padded channel-last input (grown by a zero row or column where OH or OW is odd),
        which winograd_backward needs.
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

    map_chunks(forward_chunk, _chunks(n_examples, tiles, depth, filters))
    return out.transpose(0, 3, 1, 2), x_pad


def winograd_backward(dout, x_pad, w, pad, input_hw, input_gradient=True):
    """Backward of winograd_forward, given dout (N, K, OH, OW) and its x_pad.

    Returns:
        dx (N, D, H, W) (a view of channel-last memory; None when input_gradient is False),
        dw (K, D, 3, 3), db (K,).
    """
    kernels, (tiles, grow) = _kernels(), _tiling(dout.shape[2:])
    n_examples, filters = dout.shape[:2]
    depth = x_pad.shape[3]
    dy = pad_channel_last(dout, (0, 0), grow)
    U_transposed = np.ascontiguousarray(_filter_tiles(w).transpose(0, 2, 1))  # (16, K, D)
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

    parts = map_chunks(backward_chunk, _chunks(n_examples, tiles, depth, filters))
    U_grad = sum(part for part, _ in parts).reshape(4, 4, depth, filters)
    g = G.astype(U_grad.dtype)
    dw = np.tensordot(g, np.tensordot(g, U_grad, axes=(0, 0)), axes=(0, 1))  # (3, 3, D, K): Gᵀ U_grad G, transposed
    db = sum(part for _, part in parts)
    dx = None if dx_pad is None else unpad_channel_last(dx_pad, pad, input_hw)
    return dx, np.ascontiguousarray(dw.transpose(3, 2, 1, 0), dtype=w.dtype), db
