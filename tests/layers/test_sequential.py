"""Sequential: layers as varargs or one list, shapes inferred through the chain, the backward of
training (no gradient of the images), clear refusals, and a small net that overfits."""

import numpy as np
import pytest

import volnet as v


def test_shapes_are_inferred_through_a_model():
    model = v.Sequential([v.Conv2D(8, 3, pad=1), v.ReLU(), v.MaxPool2D(), v.Conv2D(16, 3, pad="same"),
                          v.BatchNorm(), v.ReLU(), v.GlobalAvgPool2D(), v.Linear(10)], input_shape=(3, 16, 16))
    assert model.output_shapes((3, 16, 16)) == [(8, 16, 16), (8, 16, 16), (8, 8, 8), (16, 8, 8), (16, 8, 8),
                                                 (16, 8, 8), (16,), (10,)]
    assert model.params["3.weight"].shape == (16, 8, 3, 3)
    assert model.forward(np.zeros((2, 3, 16, 16), np.float32)).shape == (2, 10)


def test_sequential_takes_varargs_or_one_list():
    def make(*layers):
        return v.Sequential(*layers, input_shape=(3, 6, 6), seed=0)

    spread = make(v.Conv2D(4, 3), v.ReLU(), v.Flatten(), v.Linear(5))
    listed = make([v.Conv2D(4, 3), v.ReLU(), v.Flatten(), v.Linear(5)])
    assert [type(layer) for layer in spread] == [type(layer) for layer in listed] == [v.Conv2D, v.ReLU, v.Flatten,
                                                                                      v.Linear]
    assert [layer.index for layer in spread] == ["1", "2", "3", "4"]
    for name, value in spread.state().items():
        np.testing.assert_array_equal(value, listed.state()[name])  # same seed, same weights
    assert len(v.Sequential(v.ReLU())) == 1 and len(v.Sequential()) == 0


def test_sequential_refuses_an_architecture_string_and_points_to_build_model():
    with pytest.raises(TypeError, match=r"^Sequential takes layers, not an architecture string; to build "
                                        r"'conv3-32 relu' use volnet\.build_model\('conv3-32 relu', input_shape\), "
                                        r"e\.g\. input_shape=\(1, 28, 28\)"):
        v.Sequential("conv3-32 relu")


def test_sequential_says_how_to_give_the_input_shape():
    # the input shape given positionally, as the old signature allowed
    with pytest.raises(TypeError, match=r"^Sequential takes layers, got list: \[ReLU\(\)\]; write Sequential\(layer, "
                                        r"layer, \.\.\.\) or Sequential\(\[layer, layer, \.\.\.\]\), and give "
                                        r"input_shape, seed and dtype by keyword$"):
        v.Sequential([v.ReLU()], (3, 6, 6))


def test_sequential_takes_only_layers():
    with pytest.raises(TypeError, match="Sequential takes layers, got str"):
        v.Sequential([v.ReLU(), "relu"])


def test_training_backward_skips_only_the_images_gradient():
    # backward(dout, input_gradient=False) gives the same parameter gradients and no dx
    from volnet import build_model

    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 1, 8, 8))
    grads = []
    for input_gradient in (True, False):
        model = build_model("conv3-4 relu pool fc5", (1, 8, 8), seed=1, dtype=np.float64)
        dout = np.random.default_rng(2).standard_normal(model.forward(x).shape)
        dx = model.backward(dout, input_gradient=input_gradient)
        assert (dx is None) == (not input_gradient)
        grads.append({name: g.copy() for name, g in model.grads.items()})
    assert grads[0].keys() == grads[1].keys()
    for name in grads[0]:
        np.testing.assert_array_equal(grads[0][name], grads[1][name], err_msg=name)


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
