import numpy as np
import pytest

import volnet as v


def test_params_and_grads_are_dicts_keyed_by_name():
    conv = v.Conv2D(4, 3, in_depth=2)
    assert list(conv.params) == ["weight", "bias"]
    assert conv.params["weight"].shape == (4, 2, 3, 3) and conv.params["bias"].shape == (4,)
    assert conv.params["weight"].dtype == np.float32


def test_backward_accumulates_until_zero_grad():
    conv = v.Conv2D(2, 3, pad=1)
    x = np.random.default_rng(0).standard_normal((2, 1, 5, 5)).astype(np.float32)
    dout = np.ones((2, 2, 5, 5), np.float32)
    conv.forward(x)
    conv.backward(dout)
    once = conv.grads["weight"].copy()
    conv.forward(x)
    conv.backward(dout)
    np.testing.assert_allclose(conv.grads["weight"], 2 * once, rtol=1e-6)
    conv.zero_grad()
    assert not conv.grads["weight"].any()


def test_shapes_are_inferred_through_a_model():
    model = v.Sequential([v.Conv2D(8, 3, pad=1), v.ReLU(), v.MaxPool2D(), v.Conv2D(16, 3, pad="same"),
                          v.BatchNorm(), v.ReLU(), v.GlobalAvgPool2D(), v.Linear(10)], input_shape=(3, 16, 16))
    assert model.output_shapes((3, 16, 16)) == [(8, 16, 16), (8, 16, 16), (8, 8, 8), (16, 8, 8), (16, 8, 8),
                                                 (16, 8, 8), (16,), (10,)]
    assert model.params["3.weight"].shape == (16, 8, 3, 3)
    assert model.forward(np.zeros((2, 3, 16, 16), np.float32)).shape == (2, 10)


def test_state_round_trip_includes_running_statistics():
    make = lambda seed: v.Sequential([v.Conv2D(4, 3), v.BatchNorm(), v.Linear(3)], input_shape=(2, 6, 6), seed=seed)
    a, b = make(0), make(1)
    a.forward(np.random.default_rng(0).standard_normal((4, 2, 6, 6)).astype(np.float32))
    assert "1.running_mean" in a.state() and "1.running_mean" not in a.params
    b.load_state(a.state())
    x = np.random.default_rng(1).standard_normal((3, 2, 6, 6)).astype(np.float32)
    np.testing.assert_array_equal(a.eval().forward(x), b.eval().forward(x))
    with pytest.raises(ValueError, match=r"missing \['1.gamma'\]"):
        b.load_state({k: val for k, val in a.state().items() if k != "1.gamma"})


def test_float64_mode():
    model = v.Sequential([v.Conv2D(2, 3), v.Tanh(), v.Linear(2)], input_shape=(1, 5, 5)).to(np.float64)
    out = model.forward(np.ones((1, 1, 5, 5), np.float32))
    assert out.dtype == np.float64 and model.params["0.weight"].dtype == np.float64


def test_dropout_train_and_inference():
    layer = v.Dropout(0.25, seed=0)
    x = np.ones((100, 1000), np.float32)
    out = layer.forward(x)
    assert abs((out == 0).mean() - 0.25) < 0.01
    np.testing.assert_allclose(out[out != 0], 1 / 0.75)
    np.testing.assert_array_equal(layer.backward(x), out)
    assert layer.eval().forward(x) is x


def test_batchnorm_uses_running_statistics_in_inference():
    layer = v.BatchNorm()
    x = np.random.default_rng(0).standard_normal((64, 3)).astype(np.float32) * 3 + 5
    for _ in range(200):
        layer.forward(x)
    out = layer.eval().forward(x)
    np.testing.assert_allclose(out.mean(axis=0), 0, atol=0.05)


def test_repr_shows_hyperparameters_that_differ_from_defaults():
    assert repr(v.Conv2D(32, 5, stride=2, pad="same")) == "Conv2D(filters=32, size=5, stride=2, pad='same')"
    assert repr(v.MaxPool2D()) == "MaxPool2D()"
    assert repr(v.Linear(10, bias=False)) == "Linear(units=10, bias=False)"


def test_a_small_net_overfits_a_small_batch():
    # 20 random examples, plain SGD on the layer gradients: training accuracy reaches 100%
    rng = np.random.default_rng(0)
    x = rng.standard_normal((20, 1, 8, 8)).astype(np.float32)
    y = rng.integers(0, 3, 20)
    model = v.Sequential([v.Conv2D(8, 3, pad=1), v.ReLU(), v.MaxPool2D(), v.Linear(3)], input_shape=(1, 8, 8), seed=0)
    loss_fn = v.SoftmaxCrossEntropy()
    for _ in range(200):
        model.zero_grad()
        loss, dscores = loss_fn(model.forward(x), y)
        model.backward(dscores)
        for p in model.parameters().values():
            p.data -= 0.1 * p.grad
    assert (model.forward(x).argmax(axis=1) == y).mean() == 1.0 and loss < 0.05
