"""BatchNorm: running statistics are Buffers (saved, cast, never trained), inference uses them,
its gradient in inference mode, and parity with torch.nn.BatchNorm1d/2d."""

import numpy as np
import pytest

import volnet as v
from volnet.gradients.every_layer import TOLERANCE as GRADIENT_TOLERANCE
from volnet.gradients.numerical import assert_gradients_close, away_from_zero, check_layer_gradients
from volnet.layers import Buffer, Parameter
from tests.layers.cases import TOLERANCE, compare, needs_torch, torch, volume


def test_running_statistics_are_buffers_saved_but_not_trained():
    model = v.Sequential([v.Conv2D(4, 3), v.BatchNorm()], input_shape=(2, 6, 6))
    layer = model[1]
    assert isinstance(layer.running_mean, Buffer) and isinstance(layer.gamma, Parameter)
    assert sorted(model.buffers()) == ["1.running_mean", "1.running_var"]
    assert not set(model.buffers()) & set(model.parameters())
    assert set(model.state()) == set(model.buffers()) | set(model.parameters())
    assert not hasattr(layer.running_mean, "grad")
    model.to(np.float64)
    assert layer.running_var.data.dtype == np.float64 and layer.gamma.grad.dtype == np.float64
    assert layer.cost((4, 4, 4), (4, 4, 4)).statistics == 8


def test_batchnorm_uses_running_statistics_in_inference():
    layer = v.BatchNorm()
    x = np.random.default_rng(0).standard_normal((64, 3)).astype(np.float32) * 3 + 5
    for _ in range(200):
        layer.forward(x)
    out = layer.eval().forward(x)
    np.testing.assert_allclose(out.mean(axis=0), 0, atol=0.05)


def test_batchnorm_in_inference_mode():
    layer = v.BatchNorm()
    x = away_from_zero((3, 3, 6, 6))
    layer.build(x.shape[1:], dtype=np.float64)
    layer.running_mean.data[:] = [0.1, -0.2, 0.3]
    layer.running_var.data[:] = [0.5, 2.0, 1.5]
    layer.eval()
    assert_gradients_close(check_layer_gradients(layer, x), GRADIENT_TOLERANCE)


@needs_torch
@pytest.mark.parametrize("shape", [(8, 3, 5, 5), (16, 6)])
def test_batchnorm_training_then_inference(shape):
    x = volume(shape) * 2 + 1
    layer = v.BatchNorm(momentum=0.1, eps=1e-5)
    layer.build(shape[1:])
    layer.gamma.data[:] = np.linspace(0.5, 1.5, shape[1])
    layer.beta.data[:] = np.linspace(-1, 1, shape[1])
    module = (torch.nn.BatchNorm2d if len(shape) == 4 else torch.nn.BatchNorm1d)(shape[1], eps=1e-5, momentum=0.1)
    with torch.no_grad():
        module.weight.copy_(torch.tensor(layer.gamma.data))
        module.bias.copy_(torch.tensor(layer.beta.data))
    compare(layer, module, x, [("gamma", module.weight), ("beta", module.bias)])
    np.testing.assert_allclose(layer.running_mean.data, module.running_mean.numpy(), **TOLERANCE)
    np.testing.assert_allclose(layer.running_var.data, module.running_var.numpy(), **TOLERANCE)
    layer.eval()
    module.eval()
    module.zero_grad()
    layer.zero_grad()
    compare(layer, module, volume(shape, seed=5), [("gamma", module.weight), ("beta", module.bias)])
