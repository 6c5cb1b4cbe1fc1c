"""The four tile transforms of Winograd F(2×2, 3×3), compiled by numba (see conv_winograd.py).

Each is a loop over the tiles of a chunk of the batch and, innermost, over the depth axis
(channel-last memory, so the inner loop walks memory in order and vectorises). They
release the GIL, so volnet's worker threads run them on separate cores. Tile t of example
n at tile row ty, tile column tx is t = (n·TH + ty)·TW + tx; its 4×4 input window starts
at row 2·ty, column 2·tx of the padded input, its 2×2 output block at the same place of
the output. The caller grows the padded input (and dy) by a zero row or column where the
output's height or width is odd, so that no tile reads past an edge.

    forward                        backward
    input_tiles:   V = Bᵀ d B      gradient_tiles:       M_grad = A dy Aᵀ
    output_tiles:  y = Aᵀ M A + b  input_gradient_tiles: B V_grad Bᵀ, added onto dx_pad

with Bᵀ = [1 0 −1 0; 0 1 1 0; 0 −1 1 0; 0 1 0 −1] and Aᵀ = [1 1 1 0; 0 1 −1 −1]. A 4×4
transformed tile is stored as 16 rows of one array, index ξ = 4·i + j.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from volnet.ops.compiled import FASTMATH

_compile = njit(nogil=True, fastmath=set(FASTMATH), cache=True)


@_compile
def tile_origin(t, tiles_h, tiles_w):
    """(n, y, x) of tile t: its example, and the row and column where its window starts."""
    n, within = divmod(t, tiles_h * tiles_w)
    ty, tx = divmod(within, tiles_w)
    return n, 2 * ty, 2 * tx


@_compile
def input_tiles(x_pad, V, tiles_h, tiles_w):
    """x_pad (n, 2·TH + 2, 2·TW + 2, D) -> V (16, n·TH·TW, D), V[:, t] = Bᵀ d B of tile t."""
    n_examples, _, _, depth = x_pad.shape
    rows = np.empty((4, 4, depth), V.dtype)  # Bᵀ d of one tile
    for t in range(n_examples * tiles_h * tiles_w):
        n, y, x = tile_origin(t, tiles_h, tiles_w)
        for j in range(4):
            column = x + j
            for c in range(depth):
                d0, d1 = x_pad[n, y, column, c], x_pad[n, y + 1, column, c]
                d2, d3 = x_pad[n, y + 2, column, c], x_pad[n, y + 3, column, c]
                rows[0, j, c], rows[1, j, c] = d0 - d2, d1 + d2
                rows[2, j, c], rows[3, j, c] = d2 - d1, d1 - d3
        for i in range(4):
            for c in range(depth):
                r0, r1, r2, r3 = rows[i, 0, c], rows[i, 1, c], rows[i, 2, c], rows[i, 3, c]
                V[4 * i, t, c], V[4 * i + 1, t, c] = r0 - r2, r1 + r2
                V[4 * i + 2, t, c], V[4 * i + 3, t, c] = r2 - r1, r1 - r3


@_compile
def output_tiles(M, bias, out, tiles_h, tiles_w):
    """M (16, n·TH·TW, K), bias (K,) -> out (n, OH, OW, K), each 2×2 block Aᵀ M A + b (the
    blocks of the last tile row or column are cut to one row or column where OH or OW is odd)."""
    n_examples, height, width, filters = out.shape
    rows = np.empty((2, 4, filters), out.dtype)  # Aᵀ M of one tile
    for t in range(n_examples * tiles_h * tiles_w):
        n, y, x = tile_origin(t, tiles_h, tiles_w)
        for j in range(4):  # Aᵀ M: rows m0 + m1 + m2 and m1 − m2 − m3
            for k in range(filters):
                m1, m2 = M[4 + j, t, k], M[8 + j, t, k]
                rows[0, j, k] = M[j, t, k] + m1 + m2
                rows[1, j, k] = m1 - m2 - M[12 + j, t, k]
        for i in range(min(2, height - y)):  # (Aᵀ M) A: the same on the columns
            for k in range(filters):
                out[n, y + i, x, k] = rows[i, 0, k] + rows[i, 1, k] + rows[i, 2, k] + bias[k]
            if x + 1 < width:
                for k in range(filters):
                    out[n, y + i, x + 1, k] = rows[i, 1, k] - rows[i, 2, k] - rows[i, 3, k] + bias[k]


@_compile
def gradient_tiles(dy, M_grad, tiles_h, tiles_w):
    """dy (n, 2·TH, 2·TW, K) -> M_grad (16, n·TH·TW, K), M_grad[:, t] = A dy_t Aᵀ (the adjoint
    of output_tiles: ∂L/∂M for every tile)."""
    n_examples, _, _, filters = dy.shape
    rows = np.empty((4, 2, filters), M_grad.dtype)  # A dy of one tile
    for t in range(n_examples * tiles_h * tiles_w):
        n, y, x = tile_origin(t, tiles_h, tiles_w)
        for j in range(2):  # A dy: rows g0, g0 + g1, g0 − g1, −g1
            for k in range(filters):
                g0, g1 = dy[n, y, x + j, k], dy[n, y + 1, x + j, k]
                rows[0, j, k], rows[1, j, k] = g0, g0 + g1
                rows[2, j, k], rows[3, j, k] = g0 - g1, -g1
        for i in range(4):  # (A dy) Aᵀ: the same on the columns
            for k in range(filters):
                e0, e1 = rows[i, 0, k], rows[i, 1, k]
                M_grad[4 * i, t, k], M_grad[4 * i + 1, t, k] = e0, e0 + e1
                M_grad[4 * i + 2, t, k], M_grad[4 * i + 3, t, k] = e0 - e1, -e1


@_compile
def input_gradient_tiles(V_grad, dx_pad, tiles_h, tiles_w):
    """V_grad (16, n·TH·TW, D) -> adds B V_grad_t Bᵀ onto tile t's 4×4 window of dx_pad
    (n, 2·TH + 2, 2·TW + 2, D) (the adjoint of input_tiles; neighbouring windows overlap)."""
    n_examples, _, _, depth = dx_pad.shape
    rows = np.empty((4, 4, depth), dx_pad.dtype)  # B V_grad of one tile
    for t in range(n_examples * tiles_h * tiles_w):
        n, y, x = tile_origin(t, tiles_h, tiles_w)
        for j in range(4):  # B V: rows v0, v1 − v2 + v3, v1 + v2 − v0, −v3
            for c in range(depth):
                v0, v1 = V_grad[j, t, c], V_grad[4 + j, t, c]
                v2, v3 = V_grad[8 + j, t, c], V_grad[12 + j, t, c]
                rows[0, j, c], rows[1, j, c] = v0, v1 - v2 + v3
                rows[2, j, c], rows[3, j, c] = v1 + v2 - v0, -v3
        for i in range(4):  # (B V) Bᵀ: the same on the columns
            for c in range(depth):
                r0, r1, r2, r3 = rows[i, 0, c], rows[i, 1, c], rows[i, 2, c], rows[i, 3, c]
                dx_pad[n, y + i, x, c] += r0
                dx_pad[n, y + i, x + 1, c] += r1 - r2 + r3
                dx_pad[n, y + i, x + 2, c] += r1 + r2 - r0
                dx_pad[n, y + i, x + 3, c] -= r3
