"""ReLU, leaky ReLU, sigmoid and tanh: elementwise, and equal to torch's."""

import pytest

import volnet as v
from tests.layers.cases import F, compare, needs_torch, torch, volume


def test_activations_are_elementwise_and_cost_one_per_number():
    for layer in (v.ReLU(), v.LeakyReLU(0.2), v.Sigmoid(), v.Tanh()):
        assert layer.elementwise
        assert (layer.cost((3, 4, 4), (3, 4, 4)).multiply_adds, layer.cost((3, 4, 4), (3, 4, 4)).parameters) == (48, 0)
    assert v.LeakyReLU(0.2).describe() == "leaky relu 0.2" and v.build_model("lrelu0.1", (3,))[0].slope == 0.1


@needs_torch
@pytest.mark.parametrize("layer, torch_fn", [
    (v.ReLU(), lambda x_t: F.relu(x_t)),
    (v.LeakyReLU(0.2), lambda x_t: F.leaky_relu(x_t, 0.2)),
    (v.Sigmoid(), lambda x_t: torch.sigmoid(x_t)),
    (v.Tanh(), lambda x_t: torch.tanh(x_t)),
])
def test_elementwise(layer, torch_fn):
    compare(layer, torch_fn, volume((2, 3, 4, 4)) * 3)
