"""record(): every layer's activation and the gradient with respect to it, and the layer walk."""

import numpy as np

from volnet.models import build_model


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
