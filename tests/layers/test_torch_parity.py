"""Forward and backward of every layer and loss that PyTorch has, against torch 2.13 CPU.

All in float32. Tolerance: rtol 1e-4, atol 1e-5 — float32 carries ~7 digits and each
output here sums at most a few hundred products, so the two libraries' different summation
orders differ by ~1e-6 relative; 1e-4 leaves margin without hiding a wrong formula (which
shows up at ~1e-1). Dropout has no parity test: its masks come from different generators.
"""

import numpy as np
import pytest

import volnet as v

torch = pytest.importorskip("torch")
F = torch.nn.functional
TOLERANCE = dict(rtol=1e-4, atol=1e-5)


def tensor(array):
    return torch.tensor(array, requires_grad=True)


def run_volnet(layer, x, dout):
    out = layer.forward(x)
    dx = layer.backward(dout)
    return out, dx


def compare(layer, torch_fn, x, torch_params=(), seed=1):
    """Run layer and torch_fn(x_t, *params_t) on the same x and dout; compare out, dx and
    the gradients of the named parameters (volnet name, torch tensor) pairs."""
    out = layer.forward(x)
    dout = np.random.default_rng(seed).standard_normal(out.shape).astype(np.float32)
    dx = layer.backward(dout)
    x_t = tensor(x)
    out_t = torch_fn(x_t)
    out_t.backward(torch.tensor(dout))
    np.testing.assert_allclose(out, out_t.detach().numpy(), **TOLERANCE)
    np.testing.assert_allclose(dx, x_t.grad.numpy(), **TOLERANCE)
    for name, param_t in torch_params:
        np.testing.assert_allclose(layer.grads[name], param_t.grad.numpy(), **TOLERANCE, err_msg=name)


def volume(shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


@pytest.mark.parametrize("hyper, shape", [
    (dict(filters=8, size=3, pad=1), (4, 3, 10, 10)),
    (dict(filters=4, size=5, stride=2, pad=2), (2, 3, 11, 11)),
    (dict(filters=6, size=(3, 2), stride=(2, 1), pad=(1, 0)), (2, 2, 9, 8)),
    (dict(filters=4, size=3, pad=2, dilation=2), (2, 3, 8, 8)),
    (dict(filters=6, size=3, pad=1, groups=3), (2, 6, 7, 7)),
    (dict(filters=5, size=1, bias=False), (3, 4, 5, 5)),
    # 3×3 stride 1, ≥ 16 deep: Winograd F(2×2, 3×3) where numba is installed
    (dict(filters=24, size=3, pad=1), (3, 16, 9, 6)),
    (dict(filters=32, size=3, bias=False), (2, 32, 8, 8)),
])
def test_conv2d(hyper, shape):
    layer = v.Conv2D(**hyper)
    x = volume(shape)
    layer.build(shape[1:], rng=np.random.default_rng(0))
    w_t = tensor(layer.weight.data)
    b_t = tensor(layer.bias.data) if hyper.get("bias", True) else None
    params = [("weight", w_t)] + ([("bias", b_t)] if b_t is not None else [])
    compare(layer, lambda x_t: F.conv2d(x_t, w_t, b_t, layer.strides, layer.pads, layer.dilations, layer.groups), x, params)


POOLS = [(2, None, 0, (8, 8)), (3, 2, 1, (9, 7)), ((2, 3), (2, 1), 0, (8, 9)), (3, 1, 1, (5, 6))]


@pytest.mark.parametrize("size, stride, pad, hw", POOLS)
def test_max_pool(size, stride, pad, hw):
    x = volume((2, 3, *hw))
    layer = v.MaxPool2D(size, stride, pad)
    compare(layer, lambda x_t: F.max_pool2d(x_t, size, stride, pad), x)


@pytest.mark.parametrize("size, stride, pad, hw", POOLS)
def test_avg_pool(size, stride, pad, hw):
    x = volume((2, 3, *hw))
    # PyTorch's default count_include_pad=True: padding counts as zeros in the mean, as in volnet
    compare(v.AvgPool2D(size, stride, pad), lambda x_t: F.avg_pool2d(x_t, size, stride, pad), x)


def test_global_average_pool():
    compare(v.GlobalAvgPool2D(), lambda x_t: F.adaptive_avg_pool2d(x_t, 1).flatten(1), volume((2, 3, 5, 4)))


def test_linear_on_a_volume():
    x = volume((4, 3, 5, 5))
    layer = v.Linear(7)
    layer.build(x.shape[1:], rng=np.random.default_rng(0))
    w_t, b_t = tensor(layer.weight.data), tensor(layer.bias.data)
    compare(layer, lambda x_t: F.linear(x_t.flatten(1), w_t, b_t), x, [("weight", w_t), ("bias", b_t)])


@pytest.mark.parametrize("layer, torch_fn", [
    (v.ReLU(), F.relu),
    (v.LeakyReLU(0.2), lambda x_t: F.leaky_relu(x_t, 0.2)),
    (v.Sigmoid(), torch.sigmoid),
    (v.Tanh(), torch.tanh),
    (v.Flatten(), lambda x_t: x_t.flatten(1)),
])
def test_elementwise(layer, torch_fn):
    compare(layer, torch_fn, volume((2, 3, 4, 4)) * 3)


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


@pytest.mark.parametrize("smoothing", [0.0, 0.1])
def test_softmax_cross_entropy(smoothing):
    rng = np.random.default_rng(0)
    scores, labels = (rng.standard_normal((8, 10)) * 5).astype(np.float32), rng.integers(0, 10, 8)
    loss, dscores = v.SoftmaxCrossEntropy(smoothing)(scores, labels)
    scores_t = tensor(scores)
    loss_t = F.cross_entropy(scores_t, torch.tensor(labels), label_smoothing=smoothing)
    loss_t.backward()
    np.testing.assert_allclose(loss, loss_t.item(), **TOLERANCE)
    np.testing.assert_allclose(dscores, scores_t.grad.numpy(), **TOLERANCE)


def test_svm_loss_is_multi_margin_times_classes():
    rng = np.random.default_rng(0)
    scores, labels = rng.standard_normal((8, 5)).astype(np.float32), rng.integers(0, 5, 8)
    loss, dscores = v.SVMLoss(margin=1.0)(scores, labels)
    scores_t = tensor(scores)
    # PyTorch's MultiMarginLoss divides by the number of classes C; CS231n's hinge does not
    loss_t = F.multi_margin_loss(scores_t, torch.tensor(labels), margin=1.0) * 5
    loss_t.backward()
    np.testing.assert_allclose(loss, loss_t.item(), **TOLERANCE)
    np.testing.assert_allclose(dscores, scores_t.grad.numpy(), **TOLERANCE)


def test_stable_softmax_with_huge_scores():
    scores = np.array([[1000.0, 0.0, -1000.0]], dtype=np.float32)
    loss, dscores = v.SoftmaxCrossEntropy()(scores, np.array([0]))
    assert loss == 0.0 and np.all(np.isfinite(dscores))
    loss_t = F.cross_entropy(torch.tensor(scores), torch.tensor([2]))
    np.testing.assert_allclose(v.SoftmaxCrossEntropy()(scores, np.array([2]))[0], loss_t.item(), rtol=1e-6)
