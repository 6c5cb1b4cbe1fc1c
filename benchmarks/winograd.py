"""Winograd F(2×2, 3×3) against im2col, layer by layer (the policy's depth rule in volnet/ops/conv.py).

    pip install numba && python benchmarks/winograd.py

For 3×3 stride-1 layers (pad 1, batch 128, float32) from 1 to 64 deep, times volnet's own
conv2d_forward, and conv2d_forward + conv2d_backward (dx, dw and db), once with
algorithm="im2col" and once with algorithm="winograd" (which, asked by name, takes any
depth), alternating the two. The ops hold BLAS at one thread themselves, as in a layer.
Prints a Markdown table of medians (ms) and the share of time Winograd saves; it is how
volnet.ops.conv.WINOGRAD_MIN_DEPTH was chosen.
"""

from __future__ import annotations

import numpy as np

from volnet.bench.timing import median_seconds
from volnet.ops import conv

# (input depth D, filters K, height and width)
LAYERS = [(1, 32, 28), (3, 32, 32), (8, 32, 28), (16, 32, 28), (16, 32, 14), (32, 32, 32),
          (32, 64, 16), (32, 64, 14), (64, 64, 14), (64, 64, 16), (64, 128, 8), (64, 64, 7)]


def time_layer(depth, filters, size, repeats=9):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((128, size, size, depth), dtype=np.float32).transpose(0, 3, 1, 2)
    w = (rng.standard_normal((filters, depth, 3, 3)) * 0.1).astype(np.float32)
    b = np.zeros(filters, np.float32)
    dout = rng.standard_normal((128, size, size, filters), dtype=np.float32).transpose(0, 3, 1, 2)
    times = {}
    for algorithm in ("im2col", "winograd", "im2col", "winograd"):  # alternating: a slow spell hits both

        def forward(algorithm=algorithm):
            return conv.conv2d_forward(x, w, b, pad=1, algorithm=algorithm)

        forward_time = median_seconds(forward, repeats, 2)
        both = median_seconds(lambda: conv.conv2d_backward(dout, forward()[1]), repeats, 2)
        best = times.get(algorithm, (forward_time, both))
        times[algorithm] = (min(best[0], forward_time), min(best[1], both))
    return times


def main():
    reason = conv.ALGORITHMS["winograd"].refusal((1, 1, 3, 3), ("f4", "f4"), (1, 1), (1, 1), (1, 1), 1, "forward")
    if reason is not None:
        raise SystemExit(f"Winograd cannot run here: {reason}")
    print("| layer (batch 128) | im2col forward | Winograd forward | im2col fwd+bwd | Winograd fwd+bwd "
          "| fwd+bwd time saved |")
    print("|---|---:|---:|---:|---:|---:|")
    for depth, filters, size in LAYERS:
        times = time_layer(depth, filters, size)
        (f_im, b_im), (f_wi, b_wi) = times["im2col"], times["winograd"]
        print(f"| {depth}→{filters} {size}×{size} | {1e3 * f_im:.1f} | {1e3 * f_wi:.1f} | {1e3 * b_im:.1f} "
              f"| {1e3 * b_wi:.1f} | {100 * (1 - b_wi / b_im):.0f} % |", flush=True)


if __name__ == "__main__":
    main()
