"""Max, average and global average pooling: errors, what the layers say they are, and parity
with torch.nn.functional."""

import numpy as np
import pytest

import volnet as v
from tests.layers.cases import F, compare, needs_torch, volume

POOLS = [(2, None, 0, (8, 8)), (3, 2, 1, (9, 7)), ((2, 3), (2, 1), 0, (8, 9)), (3, 1, 1, (5, 6))]


def test_pool_window_does_not_fit():
    with pytest.raises(ValueError, match=r"(?s)MaxPool2D #3 does not fit its 7×7×4 input.*\(7 − 2 \+ 0\)/2 \+ 1 = 3.5"):
        v.Sequential([v.Conv2D(4, 3, pad=1), v.ReLU(), v.MaxPool2D()], input_shape=(1, 7, 7))


def test_sizes_must_be_positive_and_pads_not_negative():
    with pytest.raises(ValueError, match="size must be at least 1, got 0"):
        v.MaxPool2D(0)
    with pytest.raises(ValueError, match="pad must be at least 0, got -1"):
        v.AvgPool2D(2, pad=-1)


def test_pools_say_what_they_are():
    model = v.build_model("pool3/s2 avgpool gap", input_shape=(2, 9, 9))
    shapes = [(2, 9, 9), (2, 4, 4), (2, 2, 2)]
    costs = [layer.cost(shape, layer.output_shape(shape)) for layer, shape in zip(model, shapes)]
    assert [(cost.parameters, cost.multiply_adds) for cost in costs] == [(0, 2 * 4 * 4 * 9), (0, 2 * 2 * 2 * 4),
                                                                         (0, 2 * 2 * 2)]
    assert [layer.describe() for layer in model] == ["max pool 3×3, stride 2", "avg pool 2×2", "global avg pool"]
    assert [module.kind for layer in model for module in layer.torch_modules()] == [
        "MaxPool2d", "AvgPool2d", "AdaptiveAvgPool2d", "Flatten"]


@needs_torch
@pytest.mark.parametrize("size, stride, pad, hw", POOLS)
def test_max_pool(size, stride, pad, hw):
    x = volume((2, 3, *hw))
    layer = v.MaxPool2D(size, stride, pad)
    compare(layer, lambda x_t: F.max_pool2d(x_t, size, stride, pad), x)


@needs_torch
@pytest.mark.parametrize("size, stride, pad, hw", POOLS)
def test_avg_pool(size, stride, pad, hw):
    x = volume((2, 3, *hw))
    # PyTorch's default count_include_pad=True: padding counts as zeros in the mean, as in volnet
    compare(v.AvgPool2D(size, stride, pad), lambda x_t: F.avg_pool2d(x_t, size, stride, pad), x)


@needs_torch
def test_global_average_pool():
    compare(v.GlobalAvgPool2D(), lambda x_t: F.adaptive_avg_pool2d(x_t, 1).flatten(1), volume((2, 3, 5, 4)))
