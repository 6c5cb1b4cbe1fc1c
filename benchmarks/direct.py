"""The direct loops against im2col and PyTorch on shallow layers (the policy's rule for "direct"
in volnet/ops/conv.py: DIRECT_MAX_DEPTH, DIRECT_MAX_SIZE).

    pip install numba && python benchmarks/direct.py

For each layer (batch 128, float32) times three things, in rounds that alternate
algorithm="im2col", algorithm="direct", algorithm="auto" (the policy, which may compute dx by
another algorithm than the forward's: a 5×5 layer's by direct) and PyTorch
(torch.nn.functional.conv2d, its threads set to volnet's), so that a slow spell of a shared
machine hits all four:
    forward           conv2d_forward
    forward + dw      conv2d_forward and conv2d_backward(input_gradient=False) of a
                      channel-last dout, as a net's first layer trains (PyTorch: an input
                      that needs no gradient)
    forward+backward  dx, dw and db too, of a dout in (N, K, OH, OW) memory as `volnet bench` has it
Prints a Markdown table of medians (ms) and volnet/PyTorch for each algorithm.

    python benchmarks/direct.py --only F5      the layers whose name holds "F5"
"""

from __future__ import annotations

import time

import numpy as np

from volnet.ops import conv
from volnet.ops.parallel import blas_threads

# (input depth D, filters K, filter size F, stride S, pad P, height and width)
LAYERS = [(1, 32, 3, 1, 1, 28), (3, 32, 5, 1, 2, 32), (3, 32, 3, 1, 1, 32), (1, 32, 5, 1, 2, 28),
          (2, 32, 3, 1, 1, 28), (3, 64, 3, 1, 1, 32), (1, 16, 3, 1, 1, 28), (3, 32, 3, 2, 1, 31),
          (1, 32, 3, 2, 1, 27), (1, 32, 7, 1, 3, 28)]
KINDS = ("forward", "forward + dw", "forward+backward")


def layer_runs(depth, filters, size, stride, pad, hw):
    """{name: (forward, forward + dw, forward+backward)} as callables, for im2col, direct, auto and torch."""
    import torch

    rng = np.random.default_rng(0)
    x = rng.standard_normal((128, depth, hw, hw), dtype=np.float32)
    w = (rng.standard_normal((filters, depth, size, size)) * 0.1).astype(np.float32)
    b = rng.standard_normal(filters).astype(np.float32)
    out, _ = conv.conv2d_forward(x, w, b, stride, pad, algorithm="im2col")
    dout = rng.standard_normal(out.shape, dtype=np.float32)
    dout_channel_last = np.ascontiguousarray(dout.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)
    runs = {}
    for name in ("im2col", "direct", "auto"):
        def forward(name=name):
            return conv.conv2d_forward(x, w, b, stride, pad, algorithm=name)[1]

        runs[name] = (forward, lambda forward=forward: conv.conv2d_backward(dout_channel_last, forward(), False),
                      lambda forward=forward: conv.conv2d_backward(dout, forward()))
    x_torch, x_learnt = torch.from_numpy(x), torch.from_numpy(x.copy()).requires_grad_()
    w_torch, b_torch = torch.from_numpy(w).requires_grad_(), torch.from_numpy(b).requires_grad_()
    dout_torch = torch.from_numpy(dout)

    def torch_forward():
        with torch.no_grad():
            torch.nn.functional.conv2d(x_torch, w_torch, b_torch, stride, pad)

    runs["PyTorch"] = (torch_forward,
                       lambda: torch.nn.functional.conv2d(x_torch, w_torch, b_torch, stride, pad).backward(dout_torch),
                       lambda: torch.nn.functional.conv2d(x_learnt, w_torch, b_torch, stride, pad).backward(dout_torch))
    return runs


def medians(runs, rounds=7):
    """{name: [median ms per kind]} over `rounds` alternating rounds, each after one untimed call."""
    times = {name: [[] for _ in KINDS] for name in runs}
    for _ in range(rounds + 1):
        for name, calls in runs.items():
            for kind, call in enumerate(calls):
                call()
                start = time.perf_counter()
                call()
                times[name][kind].append(time.perf_counter() - start)
    return {name: [1e3 * float(np.median(t[1:])) for t in kinds] for name, kinds in times.items()}


def main(argv=None):
    import argparse

    import torch

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", metavar="TEXT", default="", help='only the layers whose name holds TEXT, e.g. "F5"')
    only = parser.parse_args(argv).only
    names = [f"{depth}→{filters} F{size} S{stride} P{pad} {hw}×{hw}" for depth, filters, size, stride, pad, hw in LAYERS]
    if not any(only in name for name in names):
        parser.error(f"--only {only!r} names no layer; the layers are {', '.join(names)}")

    reason = conv.ALGORITHMS["direct"].refusal((1, 1, 3, 3), ("f4", "f4"), (1, 1), (1, 1), (1, 1), 1, "forward")
    if reason is not None:
        raise SystemExit(f"the direct loops cannot run here: {reason}")
    torch.set_num_threads(blas_threads())
    print("| layer (batch 128) | what | im2col ms | direct ms | auto ms | PyTorch ms | im2col/PyTorch "
          "| direct/PyTorch | auto/PyTorch |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for layer, (depth, filters, size, stride, pad, hw) in zip(names, LAYERS):
        if only not in layer:
            continue
        result = medians(layer_runs(depth, filters, size, stride, pad, hw))
        for kind, label in enumerate(KINDS):
            im2col, direct, auto, theirs = (result[name][kind] for name in ("im2col", "direct", "auto", "PyTorch"))
            print(f"| {layer} | {label} | {im2col:.1f} | {direct:.1f} | {auto:.1f} | {theirs:.1f} "
                  f"| {im2col / theirs:.2f} | {direct / theirs:.2f} | {auto / theirs:.2f} |", flush=True)


if __name__ == "__main__":
    main()
