"""The contract every layer gets from the base class: forward checks its input once and records
its output's shape; backward checks dout against it (the shape of the last forward's output, and
that there was a forward); parameters and buffers by name, gradients that accumulate, state that
round-trips, dtype, mode, repr, record() and the walk over the layer tree. Each contract test
runs over one case of every registered layer type (tests/layers/cases.py)."""

import re

import numpy as np
import pytest

import volnet as v
from volnet.models import build_model
from tests.layers.cases import EVERY_TYPE


def batch(shape=(2, 3, 6, 6)):
    return np.random.default_rng(0).standard_normal(shape).astype(np.float32)


def one_more_example(shape):
    return (shape[0] + 1, *shape[1:])


# -- backward checks dout ------------------------------------------------------------------------

@pytest.mark.parametrize("name", EVERY_TYPE)
def test_a_dout_of_the_wrong_shape_names_the_layer_and_both_shapes(name):
    case = EVERY_TYPE[name]
    layer = case.make()
    out = layer.forward(case.x)
    wrong = one_more_example(out.shape)
    message = (rf"^{name}\b.*: backward got dout of shape {re.escape(str(wrong))}, but the last forward gave an "
               rf"output of shape {re.escape(str(out.shape))}; dout is the gradient of the loss with respect to "
               rf"that output and must have its shape$")
    with pytest.raises(ValueError, match=message):
        layer.backward(np.ones(wrong, out.dtype))
    assert layer.backward(np.ones_like(out)).shape == case.x.shape  # the right shape still works


@pytest.mark.parametrize("name", EVERY_TYPE)
def test_backward_before_forward_says_so(name):
    case = EVERY_TYPE[name]
    layer = case.make()
    with pytest.raises(RuntimeError, match=rf"^{name}\b.*: backward called before forward; run forward\(x\) on a "
                                           rf"batch first, then backward\(dout\)"):
        layer.backward(np.ones(case.x.shape, np.float32))


@pytest.mark.parametrize("name", EVERY_TYPE)
def test_backward_parameters_checks_dout_too(name):
    case = EVERY_TYPE[name]
    layer = case.make()
    out = layer.forward(case.x)
    with pytest.raises(ValueError, match=rf"^{name}\b.*: backward got dout of shape"):
        layer.backward_parameters(np.ones(one_more_example(out.shape), out.dtype))


def test_a_layer_inside_a_model_is_named_by_its_position():
    model = v.Sequential(v.Conv2D(4, 3, pad=1), v.ReLU(), input_shape=(3, 6, 6))
    model.forward(batch())
    with pytest.raises(ValueError, match=r"^ReLU #2: backward got dout of shape \(2, 4, 6, 5\)"):
        model.layers[1].backward(np.ones((2, 4, 6, 5), np.float32))


def test_dout_must_be_an_array():
    layer = v.ReLU()
    layer.forward(batch((2, 3)))
    with pytest.raises(TypeError, match=r"^ReLU: backward wants dout as a NumPy array of shape \(2, 3\), got list$"):
        layer.backward([[1.0, 1.0, 1.0], [1.0, 1.0, 1.0]])


def test_the_shape_checked_is_that_of_the_latest_forward():
    layer = v.Linear(5)
    layer.forward(batch((4, 3)))
    layer.forward(batch((2, 3)))
    with pytest.raises(ValueError, match=r"got dout of shape \(4, 5\), but the last forward gave an output of "
                                         r"shape \(2, 5\)"):
        layer.backward(np.ones((4, 5), np.float32))


def test_the_contract_is_the_base_class_own():
    # forward is Layer's, not wrapped per class; each layer type defines _forward and _backward
    for name, case in EVERY_TYPE.items():
        kind = type(case.make())
        assert kind.forward is v.Layer.forward, name
        assert kind._forward is not v.Layer._forward and kind._backward is not v.Layer._backward, name


# -- forward checks x ----------------------------------------------------------------------------

def test_integer_input_is_a_type_error():
    with pytest.raises(TypeError, match="floating-point numbers .* got dtype uint8. Convert first"):
        v.ReLU().forward(np.zeros((2, 1, 4, 4), dtype=np.uint8))


def test_not_an_array():
    with pytest.raises(TypeError, match="wants a NumPy array, got list"):
        v.ReLU().forward([[1.0, 2.0]])


def test_empty_batch():
    with pytest.raises(ValueError, match="empty batch"):
        v.Conv2D(4).forward(np.zeros((0, 3, 8, 8), np.float32))


# -- parameters, buffers, state ------------------------------------------------------------------

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


def test_repr_shows_hyperparameters_that_differ_from_defaults():
    assert repr(v.Conv2D(32, 5, stride=2, pad="same")) == "Conv2D(filters=32, size=5, stride=2, pad='same')"
    assert repr(v.MaxPool2D()) == "MaxPool2D()"
    assert repr(v.Linear(10, bias=False)) == "Linear(units=10, bias=False)"


def test_train_and_eval_reach_every_layer_inside():
    model = build_model("conv3-4 res[conv3-4 bn relu] dropout0.5 fc5", (2, 8, 8), seed=1)
    assert all(layer.training for _, layer in model.eval().train().named_layers())
    assert not any(layer.training for _, layer in model.eval().named_layers())


# -- record() and the walk -----------------------------------------------------------------------

def test_recorded_activations_and_gradients_are_the_ones_the_chain_used():
    rng = np.random.default_rng(0)
    model = build_model("conv3-4 relu pool res[conv3-4 bn relu] fc5", (2, 8, 8), seed=1).to(np.float64)
    x = rng.standard_normal((3, 2, 8, 8))
    model.record()
    scores = model.forward(x)
    dscores = rng.standard_normal(scores.shape)
    dx = model.backward(dscores)
    layers = model.layers
    assert model.recorded_output is scores and model.recorded_gradient is dscores
    assert all(layer.recorded_gradient is not None for layer in layers)
    assert all(layer.recorded_gradient.shape == layer.recorded_output.shape for layer in layers)
    assert dx.shape == x.shape
    outputs = [layer.recorded_output.copy() for layer in layers]
    model.record(False)
    # each layer's recorded output is the next layer's input: recompute the chain from them
    np.testing.assert_allclose(layers[0].forward(x), outputs[0])
    for before, after, output in zip(outputs, layers[1:], outputs[1:]):
        np.testing.assert_allclose(after.forward(before), output)
        assert after.recorded_output is None and after.recorded_gradient is None


def test_recorded_gradient_matches_centred_differences_of_a_class_score():
    rng = np.random.default_rng(1)
    model = build_model("conv3-3 relu fc4", (1, 5, 5), seed=2).to(np.float64).eval().record()
    x = rng.standard_normal((1, 1, 5, 5))
    model.forward(x)
    onehot = np.zeros((1, 4)); onehot[0, 2] = 1
    model.backward(onehot)
    conv, relu = model.layers[0], model.layers[1]
    activation = conv.recorded_output.copy()
    gradient = conv.recorded_gradient
    tail = model.layers[1:]

    def score(a):
        for layer in tail:
            a = layer.forward(a)
        return a[0, 2]

    for index in [(0, 0, 1, 1), (0, 2, 0, 2), (0, 1, 2, 0)]:
        step = np.zeros_like(activation); step[index] = 1e-6
        numeric = (score(activation + step) - score(activation - step)) / 2e-6
        assert abs(numeric - gradient[index]) < 1e-6


def test_named_layers_walks_every_layer_once_depth_first():
    model = build_model("conv3-4 relu res[conv3-4 bn relu] fc5", (2, 8, 8), seed=1)
    names = [name for name, _ in model.named_layers()]
    assert names[0] == "" and names[1:3] == ["0", "1"]
    assert len(names) == len(set(names))
    assert any(name.startswith("2.") for name in names)
    parameters = {name.rsplit(".", 1)[0] for name in model.parameters()}
    assert parameters <= set(names)


def test_generators_are_found_by_dotted_name():
    model = build_model("conv3-4 res[conv3-4 dropout0.2] dropout0.5 fc5", (2, 8, 8), seed=1)
    generators = model.generators()
    assert sorted(generators) == ["1.body.1.rng", "2.rng"]
    assert generators["2.rng"] is model[2].rng
