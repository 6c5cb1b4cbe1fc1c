"""Batch norm, ReLU, batch norm + ReLU and 2×2 max pooling: compiled loops against NumPy passes and PyTorch.

    pip install numba && python benchmarks/stream_kernels.py [ROUNDS]

At the shapes of the "fashion" preset (batch 128, float32, channel-last as a net passes them)
and at the benchmark's batch-norm row ((N, D, H, W) memory), times volnet's ops once with the
compiled loops of volnet/ops/stream_kernels.py and once with the NumPy passes they replace
(volnet.ops.compiled.stream_kernels patched to None, as without numba), and PyTorch's module
in the same memory format, in alternating rounds. Prints a Markdown table of medians (ms),
forward / forward+backward; docs/performance.md ("Issue 16") holds its figures.
"""

from __future__ import annotations

import statistics
import sys
import time
from unittest import mock

import numpy as np
import torch

from volnet.ops import activation, batchnorm, compiled, pool

# (op, one example's shape (D, H, W), memory of the batch: channel-last or not)
CASES = [("BatchNorm", (32, 28, 28), True), ("ReLU", (32, 28, 28), True), ("BatchNorm + ReLU", (32, 28, 28), True),
         ("MaxPool 2×2", (32, 28, 28), True),
         ("BatchNorm", (64, 14, 14), True), ("ReLU", (64, 14, 14), True), ("BatchNorm + ReLU", (64, 14, 14), True),
         ("MaxPool 2×2", (64, 14, 14), True),
         ("BatchNorm", (64, 16, 16), False)]


def volume(rng, shape, channel_last):
    array = rng.standard_normal((shape[0], *shape[2:], shape[1]) if channel_last else shape, dtype=np.float32)
    return array.transpose(0, 3, 1, 2) if channel_last else array


def volnet_calls(op, x, dout):
    """forward() and step() (forward+backward) of volnet's op on x."""
    depth = x.shape[1]
    if op.startswith("BatchNorm"):  # "BatchNorm + ReLU": the pair a net runs as one (BatchNorm.absorbs)
        parameters = [np.ones(depth, np.float32), np.zeros(depth, np.float32)]
        running = [np.zeros(depth, np.float32), np.ones(depth, np.float32)]
        forward = lambda: batchnorm.batchnorm_forward(x, *parameters, *running, rectify=op.endswith("ReLU"))  # noqa: E731
        backward = batchnorm.batchnorm_backward
    elif op == "ReLU":
        forward, backward = (lambda: activation.relu_forward(x)), activation.relu_backward
    else:
        forward, backward = (lambda: pool.pool2d_forward(x, 2, 2)), pool.pool2d_backward
    return forward, lambda: backward(dout, forward()[1])


def torch_calls(op, x, dout, channel_last):
    """The same two calls of PyTorch's module, on tensors in the same memory format."""
    memory = torch.channels_last if channel_last else torch.contiguous_format
    x_torch, dout_torch = (torch.from_numpy(np.ascontiguousarray(a)).contiguous(memory_format=memory) for a in (x, dout))
    module = {"BatchNorm": lambda: torch.nn.BatchNorm2d(x.shape[1]), "ReLU": torch.nn.ReLU,
              "BatchNorm + ReLU": lambda: torch.nn.Sequential(torch.nn.BatchNorm2d(x.shape[1]), torch.nn.ReLU()),
              "MaxPool 2×2": lambda: torch.nn.MaxPool2d(2)}[op]()

    def forward():
        with torch.no_grad():
            return module(x_torch)

    def step():
        module(x_torch.detach().requires_grad_()).backward(dout_torch)

    return forward, step


def milliseconds(call, repeats=5):
    call()
    start = time.perf_counter()
    for _ in range(repeats):
        call()
    return (time.perf_counter() - start) / repeats * 1e3


def main(rounds=7):
    if compiled.stream_kernels() is None:
        raise SystemExit("the compiled loops need numba (pip install numba)")
    torch.set_num_threads(2)
    rng = np.random.default_rng(0)
    print("| op and shape (batch 128) | NumPy passes | compiled | speed-up (f+b) | PyTorch |")
    print("|---|---:|---:|---:|---:|")
    for op, shape, channel_last in CASES:
        x = volume(rng, (128, *shape), channel_last)
        out_shape = (128, shape[0], shape[1] // 2, shape[2] // 2) if op.startswith("MaxPool") else x.shape
        dout = volume(rng, out_shape, channel_last)
        calls = volnet_calls(op, x, dout)
        times = {"numpy": [], "compiled": [], "torch": []}
        for round_ in range(rounds):  # alternating, in turns of order: a slow spell hits all three
            for name in ("compiled", "numpy", "torch") if round_ % 2 else ("torch", "numpy", "compiled"):
                if name == "torch":
                    times[name].append([milliseconds(call) for call in torch_calls(op, x, dout, channel_last)])
                    continue
                with mock.patch.object(compiled, "stream_kernels", (lambda: None) if name == "numpy" else compiled.stream_kernels):
                    times[name].append([milliseconds(call) for call in calls])
        medians = {name: [statistics.median(run[i] for run in runs) for i in (0, 1)] for name, runs in times.items()}
        layout = "channel-last" if channel_last else "(N, D, H, W)"
        cells = " | ".join(f"{medians[name][0]:.1f} / {medians[name][1]:.1f}" for name in ("numpy", "compiled"))
        print(f"| {op} {'×'.join(map(str, shape))}, {layout} | {cells} | {medians['numpy'][1] / medians['compiled'][1]:.1f}× "
              f"| {medians['torch'][0]:.1f} / {medians['torch'][1]:.1f} |", flush=True)


if __name__ == "__main__":
    main(*(int(argument) for argument in sys.argv[1:]))
