"""What the benchmark times: single layers at reference shapes and whole training steps.

Each case builds a volnet computation and, where PyTorch is available, the same computation
in torch on the same float32 numbers, and states its floating-point work so that times turn
into GFLOP/s: 2 × the layer's multiply-adds (Layer.cost) per example,
    Conv2D forward   2·N·OH·OW·K·(D/G)·FH·FW     (one multiply and one add per filter tap)
    Linear forward   2·N·D_in·D_out
    forward+backward three times the forward (dx and dw are one matrix multiply each)
for the layers whose work is arithmetic (Layer.compute_bound). Pooling and batch norm do a few
operations per number and are limited by memory, not arithmetic, so they get no GFLOP/s.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from volnet import layers
from volnet.bench.mirror import to_torch
from volnet.models.summary import summary_rows

BATCH = 128

# (name, D, K, F, S, P, H=W): the CIFAR-10 stack, a stride-2 layer, the Fashion-MNIST stack.
# The stride-2 layer runs on 15×15: volnet requires (W − F + 2P)/S + 1 to be whole, and
# PyTorch's 16×16 result (which drops the last row and column) is the same 8×8 computation.
CONV_SHAPES = [
    ("3→32 F5 P2 32×32", 3, 32, 5, 1, 2, 32),
    ("32→64 F3 P1 16×16", 32, 64, 3, 1, 1, 16),
    ("64→128 F3 P1 8×8", 64, 128, 3, 1, 1, 8),
    ("64→128 F3 S2 P1 15×15", 64, 128, 3, 2, 1, 15),
    ("1→32 F3 P1 28×28", 1, 32, 3, 1, 1, 28),
    ("32→64 F3 P1 14×14", 32, 64, 3, 1, 1, 14),
]


@dataclass
class Case:
    """One row of the benchmark: a volnet callable, its torch twin (or None), and its work."""

    name: str
    group: str
    volnet: Callable[[], object]
    torch: Callable[[], object] | None
    flops: float | None
    agreement: Callable[[], float] | None = None
    extra: dict = field(default_factory=dict)


def _relative_difference(ours, theirs) -> float:
    """max |ours − theirs| / max |theirs|: how far volnet is from PyTorch, in float32 terms."""
    ours, theirs = np.asarray(ours, dtype=np.float64), np.asarray(theirs, dtype=np.float64)
    return float(np.max(np.abs(ours - theirs)) / max(np.max(np.abs(theirs)), 1e-30))


def _layer_cases(name, layer, x, flops_forward, torch_module, forward_only=True):
    """Cases for one layer: forward (optional) and forward+backward, volnet and torch."""
    rng = np.random.default_rng(1)
    out = layer.forward(x)
    dout = rng.standard_normal(out.shape, dtype=np.float32)
    cases = []
    torch_forward = torch_step = agreement = None
    if torch_module is not None:
        import torch

        x_torch = torch.from_numpy(x).requires_grad_(True)
        dout_torch = torch.from_numpy(dout)

        def torch_forward():
            with torch.no_grad():
                return torch_module(x_torch)

        def torch_step():
            torch_module(x_torch).backward(dout_torch)

        def agreement():
            return _relative_difference(layer.forward(x), torch_forward().numpy())

    def volnet_step():
        layer.forward(x)
        layer.backward(dout)

    if forward_only:
        cases.append(Case(f"{name} forward", "layer", lambda: layer.forward(x), torch_forward,
                          flops_forward, agreement))
    cases.append(Case(f"{name} forward+backward", "layer", volnet_step, torch_step,
                      None if flops_forward is None else 3 * flops_forward, agreement))
    return cases


def layer_cases(with_torch: bool) -> list[Case]:
    """Conv2D at the reference shapes, max pooling, a Linear layer and batch norm, batch 128."""
    rng = np.random.default_rng(0)
    cases = []
    for name, depth, filters, size, stride, pad, hw in CONV_SHAPES:
        layer = layers.Conv2D(filters, size, stride=stride, pad=pad)
        x = rng.standard_normal((BATCH, depth, hw, hw), dtype=np.float32)
        cases += _layer_cases(f"Conv2D {name}", layer, x, _batch_flops(layer, x.shape[1:], rng),
                              to_torch(layer) if with_torch else None)
        for case in cases[-2:]:
            case.extra["algorithm"] = layer.last_algorithm  # the conv algorithm that ran (volnet.ops.conv)
    others = [
        ("MaxPool 2×2 S2 32×28×28", layers.MaxPool2D(2), (32, 28, 28)),
        ("Linear 3136→128", layers.Linear(128), (3136,)),
        ("BatchNorm 64×16×16", layers.BatchNorm(), (64, 16, 16)),
    ]
    for name, layer, shape in others:
        flops = _batch_flops(layer, shape, rng)
        x = rng.standard_normal((BATCH, *shape), dtype=np.float32)
        cases += _layer_cases(name, layer, x, flops, to_torch(layer) if with_torch else None, forward_only=False)
    return cases


def _batch_flops(layer, input_shape, rng) -> float | None:
    """Build the layer for one example of input_shape; the forward work of a batch, or None for a
    layer whose work is not arithmetic."""
    output_shape = layer.build(input_shape, rng=rng)
    return 2.0 * BATCH * layer.cost(input_shape, output_shape).multiply_adds if layer.compute_bound else None


def forward_flops(layer, input_shape) -> float:
    """The forward work for one example, 2 × the multiply-adds of every compute-bound layer
    (Layer.compute_bound: Conv2D, Linear) inside `layer`, as the summary counts them."""
    rows = summary_rows(layer, input_shape)[1:]
    return 2.0 * sum(row.multiply_adds for row in rows if row.layer_object.compute_bound)
