"""Feasibility measurement: Winograd F(2×2, 3×3) with numba-compiled transforms.

    pip install numba && python benchmarks/winograd_numba.py

Not part of volnet (numba is not a dependency). It answers one question for the dependency
decision in docs/performance.md ("What did not work"): would compiled transforms make
Winograd beat volnet's im2col + GEMM? For each 3×3 stride-1 reference layer, batch 128,
forward only, it checks the result against volnet's conv2d_forward and times, on the same
padded channel-last input, chunk by chunk of the batch on volnet's worker threads
(volnet.ops.parallel.map_chunks, one BLAS thread each):
    the input transform   V[ξ, tile, d] = (Bᵀ d_tile B)[ξ]          a numba loop (no GIL)
    the 16 multiplies     M[ξ] = V[ξ] @ U[ξ], U = G g Gᵀ            NumPy's OpenBLAS
    the output transform  out_tile = Aᵀ M_tile A                    a numba loop (no GIL)
for three chunk sizes, against volnet's conv2d_forward (compare PyTorch's forward times in
`volnet bench`: timed in this process after numba is loaded, they came out 2–3× those of
the benchmark, so they are left out here).
(numba's own parallel loops were tried first: their OpenMP threads and OpenBLAS's helper
spin after each parallel section and take each other's cores, 1.5–5× the parts' sum.)
"""

from __future__ import annotations

import numpy as np
from numba import njit

from volnet.bench.timing import median_seconds
from volnet.ops.conv import conv2d_forward
from volnet.ops.parallel import batch_slices, map_chunks

# F(2×2, 3×3): out = Aᵀ[(G g Gᵀ) ⊙ (Bᵀ d B)]A for a 4×4 input tile d and a 3×3 filter g
G = np.array([[1, 0, 0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0, 0, 1]], np.float32)


@njit(nogil=True, fastmath=True)
def input_transform(x_pad, V, tiles_h, tiles_w):
    """x_pad (N, Hp, Wp, D) channel-last -> V (16, N·tiles_h·tiles_w, D)."""
    n_examples, _, _, depth = x_pad.shape
    rows = np.empty((4, 4, depth), np.float32)
    for n in range(n_examples):
        for ty in range(tiles_h):
            for tx in range(tiles_w):
                tile = (n * tiles_h + ty) * tiles_w + tx
                for j in range(4):  # Bᵀ d: combine rows
                    for c in range(depth):
                        d0, d1 = x_pad[n, 2 * ty, 2 * tx + j, c], x_pad[n, 2 * ty + 1, 2 * tx + j, c]
                        d2, d3 = x_pad[n, 2 * ty + 2, 2 * tx + j, c], x_pad[n, 2 * ty + 3, 2 * tx + j, c]
                        rows[0, j, c], rows[1, j, c], rows[2, j, c], rows[3, j, c] = d0 - d2, d1 + d2, d2 - d1, d1 - d3
                for i in range(4):  # (Bᵀ d) B: combine columns
                    for c in range(depth):
                        V[4 * i, tile, c] = rows[i, 0, c] - rows[i, 2, c]
                        V[4 * i + 1, tile, c] = rows[i, 1, c] + rows[i, 2, c]
                        V[4 * i + 2, tile, c] = rows[i, 2, c] - rows[i, 1, c]
                        V[4 * i + 3, tile, c] = rows[i, 1, c] - rows[i, 3, c]


@njit(nogil=True, fastmath=True)
def output_transform(M, out, tiles_h, tiles_w):
    """M (16, N·tiles_h·tiles_w, K) -> out (N, 2·tiles_h, 2·tiles_w, K), scalars so k vectorises."""
    n_examples, _, _, filters = out.shape
    for n in range(n_examples):
        for ty in range(tiles_h):
            for tx in range(tiles_w):
                t = (n * tiles_h + ty) * tiles_w + tx
                for k in range(filters):
                    a0, a1 = M[0, t, k] + M[4, t, k] + M[8, t, k], M[1, t, k] + M[5, t, k] + M[9, t, k]
                    a2, a3 = M[2, t, k] + M[6, t, k] + M[10, t, k], M[3, t, k] + M[7, t, k] + M[11, t, k]
                    b0, b1 = M[4, t, k] - M[8, t, k] - M[12, t, k], M[5, t, k] - M[9, t, k] - M[13, t, k]
                    b2, b3 = M[6, t, k] - M[10, t, k] - M[14, t, k], M[7, t, k] - M[11, t, k] - M[15, t, k]
                    out[n, 2 * ty, 2 * tx, k], out[n, 2 * ty, 2 * tx + 1, k] = a0 + a1 + a2, a1 - a2 - a3
                    out[n, 2 * ty + 1, 2 * tx, k], out[n, 2 * ty + 1, 2 * tx + 1, k] = b0 + b1 + b2, b1 - b2 - b3


def winograd_forward(x_pad, U, out, chunk_numbers):
    """out (N, H, W, K) = the 3×3 stride-1 convolution of x_pad (N, H + 2, W + 2, D), a chunk
    of examples per worker: transform, 16 multiplies, transform, while the chunk is in cache."""
    tiles_h, tiles_w = out.shape[1] // 2, out.shape[2] // 2
    depth, filters = x_pad.shape[3], U.shape[2]

    def chunk(examples):
        tiles = (examples.stop - examples.start) * tiles_h * tiles_w
        V = np.empty((16, tiles, depth), np.float32)
        M = np.empty((16, tiles, filters), np.float32)
        input_transform(x_pad[examples], V, tiles_h, tiles_w)
        np.matmul(V, U, out=M)
        output_transform(M, out[examples], tiles_h, tiles_w)

    map_chunks(chunk, batch_slices(len(x_pad), 16 * tiles_h * tiles_w * max(depth, filters), chunk_numbers))


def main():
    rng = np.random.default_rng(0)
    sizes = (1 << 17, 1 << 18, 1 << 19)
    print("| layer | " + " | ".join(f"Winograd, chunks of 2^{c.bit_length() - 1}" for c in sizes)
          + " | volnet im2col | max rel. diff |")
    print("|---|" + "---:|" * (len(sizes) + 2))
    for depth, filters, size in [(32, 64, 16), (64, 128, 8), (32, 64, 14), (32, 32, 32), (64, 64, 16)]:
        n = 128
        x = rng.standard_normal((n, size, size, depth), dtype=np.float32).transpose(0, 3, 1, 2)
        w = (rng.standard_normal((filters, depth, 3, 3)) * 0.1).astype(np.float32)
        x_pad = np.zeros((n, size + 2, size + 2, depth), np.float32)
        x_pad[:, 1:-1, 1:-1] = x.transpose(0, 2, 3, 1)
        U = np.ascontiguousarray(np.einsum("ai,kdij,bj->abdk", G, w, G).reshape(16, depth, filters))
        out = np.empty((n, size, size, filters), np.float32)
        winograd_forward(x_pad, U, out, sizes[0])
        reference, _ = conv2d_forward(x, w, None, 1, 1)
        difference = np.abs(out.transpose(0, 3, 1, 2) - reference).max() / np.abs(reference).max()
        times = [median_seconds(lambda c=c: winograd_forward(x_pad, U, out, c), 9, 2) for c in sizes]
        times.append(median_seconds(lambda: conv2d_forward(x, w, None, 1, 1), 9, 2))
        print(f"| {depth}→{filters} {size}×{size} | " + " | ".join(f"{1e3 * t:.1f} ms" for t in times)
              + f" | {difference:.0e} |")


if __name__ == "__main__":
    main()
