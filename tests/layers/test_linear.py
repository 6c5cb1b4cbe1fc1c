"""Linear and Flatten: the input-size check, what the layers say they are, and parity with
torch.nn.functional."""

import numpy as np
import pytest

import volnet as v
from tests.layers.cases import F, compare, needs_torch, tensor, volume


def test_linear_with_the_wrong_number_of_inputs():
    with pytest.raises(ValueError, match=r"Linear \(units=10\) has weights for 100 inputs but each example has 64"):
        v.Linear(10, in_features=100).forward(np.zeros((2, 4, 4, 4), np.float32))


def test_linear_and_flatten_say_what_they_are():
    linear, flatten = v.Linear(7, bias=False), v.Flatten()
    linear.build((3, 2, 2))
    assert linear.cost((3, 2, 2), (7,)).parameters == linear.weight.data.size == 84
    assert linear.cost((3, 2, 2), (7,)).multiply_adds == 84 and linear.describe() == "fc 7"
    assert [module.kind for module in linear.torch_modules()] == ["Flatten", "Linear"]  # a volume is flattened first
    assert flatten.cost((3, 2, 2), (12,)).activations == 0  # a view of its input
    assert v.build_model("fc7/nobias", input_shape=(12,))[0].bias is False


@needs_torch
def test_linear_on_a_volume():
    x = volume((4, 3, 5, 5))
    layer = v.Linear(7)
    layer.build(x.shape[1:], rng=np.random.default_rng(0))
    w_t, b_t = tensor(layer.weight.data), tensor(layer.bias.data)
    compare(layer, lambda x_t: F.linear(x_t.flatten(1), w_t, b_t), x, [("weight", w_t), ("bias", b_t)])


@needs_torch
def test_flatten():
    compare(v.Flatten(), lambda x_t: x_t.flatten(1), volume((2, 3, 4, 4)) * 3)
