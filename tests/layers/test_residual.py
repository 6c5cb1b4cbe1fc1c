"""Residual: the body and the shortcut must meet in one shape, what the block says it is, and
parity with the same block written in torch."""

import numpy as np
import pytest

import volnet as v
from tests.layers.cases import F, compare, needs_torch, tensor, volume


def test_residual_shapes_must_match():
    block = v.Residual([v.Conv2D(8, 3, pad=1)])
    with pytest.raises(ValueError, match=r"body turns 6×6×3 into 6×6×8 but the shortcut gives 6×6×3.*Add a projection"):
        block.forward(np.zeros((1, 3, 6, 6), np.float32))


def test_a_block_names_its_parts_for_the_summary_and_the_diagram():
    identity = v.Residual([v.Conv2D(3, 3, pad=1), v.ReLU()])
    projected = v.Residual([v.Conv2D(4, 3, stride=2, pad=1), v.BatchNorm()],
                           projection=v.Sequential(v.Conv2D(4, 1, stride=2, bias=False), v.BatchNorm()))
    assert identity.summary_name() == "Residual (body + identity)" and identity.diagram_shortcut() == "identity"
    assert [suffix for suffix, _ in projected.summary_parts()] == ["", ".shortcut"]
    assert projected.describe() == "residual block [conv 3×3, 4 filters, stride 2, pad 1]"
    assert projected.diagram_shortcut() == "conv 1×1, 4 filters, stride 2, batch norm"


@needs_torch
def test_residual_block_with_projection():
    x = volume((2, 3, 9, 9))
    block = v.Residual([v.Conv2D(4, 3, stride=2, pad=1), v.ReLU(), v.Conv2D(4, 3, pad=1)],
                       projection=v.Conv2D(4, 1, stride=2))
    block.build(x.shape[1:], rng=np.random.default_rng(0))
    p = {name: tensor(value) for name, value in block.params.items()}

    def torch_block(x_t):
        body = F.conv2d(F.relu(F.conv2d(x_t, p["body.0.weight"], p["body.0.bias"], 2, 1)),
                        p["body.2.weight"], p["body.2.bias"], 1, 1)
        return body + F.conv2d(x_t, p["projection.weight"], p["projection.bias"], 2)

    compare(block, torch_block, x, list(p.items()))
