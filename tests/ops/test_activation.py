# The activations and dropout (volnet/ops/activation.py, dropout.py): ReLU's chunked version
# against the reference beside it, in both memory layouts; every activation against centred
# differences and PyTorch; dropout's mask and scale.
import numpy as np
import pytest

from tests.ops.layouts import LAYOUTS
from volnet.ops import activation
from volnet.ops.dropout import dropout_backward, dropout_forward
from volnet.gradients.numerical import numerical_gradient, rel_error

ACTIVATIONS = {
    "relu": (activation.relu_forward, activation.relu_backward, "relu"),
    "leaky_relu": (activation.leaky_relu_forward, activation.leaky_relu_backward, "leaky_relu"),
    "sigmoid": (activation.sigmoid_forward, activation.sigmoid_backward, "sigmoid"),
    "tanh": (activation.tanh_forward, activation.tanh_backward, "tanh"),
}


@pytest.mark.parametrize("shape", [(3, 4, 5, 6), (7, 3), (5,)])
@pytest.mark.parametrize("layout", LAYOUTS, ids=["nchw", "nhwc"])
@pytest.mark.parametrize("chunks", ["measured", "one example"])
def test_relu_matches_the_reference_in_any_layout_and_chunking(shape, layout, chunks, passes, request):
    if chunks == "one example":
        request.getfixturevalue("tiny_chunks")
    rng = np.random.default_rng(0)
    x, dout = rng.standard_normal(shape), rng.standard_normal(shape)
    x.flat[0] = 0.0  # the kink: its gradient is 0, as PyTorch's
    if len(shape) == 4:
        x, dout = layout(x), layout(dout)
    out, positive = activation.relu_forward(x)
    out_ref, positive_ref = activation.relu_forward_reference(x)
    np.testing.assert_array_equal(out, out_ref)
    np.testing.assert_array_equal(positive, positive_ref)
    np.testing.assert_array_equal(activation.relu_backward(dout, positive),
                                  activation.relu_backward_reference(dout, positive_ref))


@pytest.mark.parametrize("name", ACTIVATIONS)
def test_every_backward_matches_numerical_gradient_and_torch(name):
    forward, backward, torch_name = ACTIVATIONS[name]
    rng = np.random.default_rng(1)
    x, dout = rng.standard_normal((4, 3, 2, 2)), rng.standard_normal((4, 3, 2, 2))
    out, cache = forward(x)
    dx = backward(dout, cache)
    assert rel_error(dx, numerical_gradient(lambda: float(np.sum(forward(x)[0] * dout)), x)) < 1e-7
    torch = pytest.importorskip("torch")
    x_torch = torch.from_numpy(x).requires_grad_()
    theirs = getattr(torch.nn.functional, torch_name)(x_torch)
    theirs.backward(torch.from_numpy(dout))
    np.testing.assert_allclose(out, theirs.detach().numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(dx, x_torch.grad.numpy(), rtol=1e-12, atol=1e-12)


def test_dropout_keeps_one_minus_p_scaled_and_is_the_identity_in_inference():
    rng = np.random.default_rng(2)
    x = np.ones((200, 50))
    out, mask = dropout_forward(x, 0.3, rng)
    kept = out != 0
    assert abs(kept.mean() - 0.7) < 0.02
    np.testing.assert_allclose(out[kept], 1 / 0.7)
    np.testing.assert_array_equal(dropout_backward(np.ones_like(x), mask), out)
    same, none = dropout_forward(x, 0.3, rng, training=False)
    assert same is x and none is None and dropout_backward(x, None) is x
    with pytest.raises(ValueError, match=r"dropout rate must be in \[0, 1\), got 1"):
        dropout_forward(x, 1, rng)


def strided(array):
    # every other number of the last axis of a twice-as-long array: in no dense layout
    return np.repeat(array, 2, axis=-1)[..., ::2]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape, layout", [((1, 5, 3, 7), np.ascontiguousarray), ((3, 1, 5, 5), np.ascontiguousarray),
                                           ((2, 3, 5, 7), LAYOUTS[1]), ((4, 9), strided), ((3, 2, 5, 5), strided),
                                           ((7,), np.ascontiguousarray)])
def test_relu_keeps_the_reference_in_both_dtypes_for_odd_and_strided_inputs(shape, layout, dtype, passes):
    rng = np.random.default_rng(1)
    x, dout = rng.standard_normal(shape).astype(dtype), rng.standard_normal(shape).astype(dtype)
    x.flat[::5] = 0.0  # kinks, and −0.0 beside them: neither counts as positive
    x.flat[1::5] = -0.0
    x.flat[2::11] = np.nan  # stays NaN, and is not positive
    out, positive = activation.relu_forward(layout(x))
    out_ref, positive_ref = activation.relu_forward_reference(x)
    assert out.dtype == dtype and positive.dtype == bool
    np.testing.assert_array_equal(out, out_ref)
    np.testing.assert_array_equal(positive, positive_ref)
    np.testing.assert_array_equal(activation.relu_backward(layout(dout), positive),
                                  activation.relu_backward_reference(dout, positive_ref))
