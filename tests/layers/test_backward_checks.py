"""backward(dout) checks dout once, in the base class, for every layer: its shape must be that
of the last forward's output, and there must have been a forward. Sequential takes layers
as varargs or as one list, and refuses an architecture string with a pointer to build_model."""

import re

import numpy as np
import pytest

import volnet as v

INPUT = (2, 3, 6, 6)

LAYERS = {
    "Conv2D": lambda: v.Conv2D(4, 3, pad=1),
    "MaxPool2D": lambda: v.MaxPool2D(),
    "AvgPool2D": lambda: v.AvgPool2D(),
    "GlobalAvgPool2D": lambda: v.GlobalAvgPool2D(),
    "Linear": lambda: v.Linear(5),
    "Flatten": lambda: v.Flatten(),
    "ReLU": lambda: v.ReLU(),
    "LeakyReLU": lambda: v.LeakyReLU(),
    "Sigmoid": lambda: v.Sigmoid(),
    "Tanh": lambda: v.Tanh(),
    "BatchNorm": lambda: v.BatchNorm(),
    "Dropout": lambda: v.Dropout(0.5, seed=0),
    "Sequential": lambda: v.Sequential(v.Conv2D(4, 3), v.ReLU(), v.Flatten(), v.Linear(5)),
    "Residual": lambda: v.Residual([v.Conv2D(3, 3, pad=1), v.ReLU()]),
}


def batch(shape=INPUT):
    return np.random.default_rng(0).standard_normal(shape).astype(np.float32)


def one_more_example(shape):
    return (shape[0] + 1, *shape[1:])


@pytest.mark.parametrize("name", LAYERS)
def test_a_dout_of_the_wrong_shape_names_the_layer_and_both_shapes(name):
    layer = LAYERS[name]()
    out = layer.forward(batch())
    wrong = one_more_example(out.shape)
    message = (rf"^{name}\b.*: backward got dout of shape {re.escape(str(wrong))}, but the last forward gave an "
               rf"output of shape {re.escape(str(out.shape))}; dout is the gradient of the loss with respect to "
               rf"that output and must have its shape$")
    with pytest.raises(ValueError, match=message):
        layer.backward(np.ones(wrong, np.float32))
    assert layer.backward(np.ones_like(out)).shape == INPUT  # the right shape still works


@pytest.mark.parametrize("name", LAYERS)
def test_backward_before_forward_says_so(name):
    layer = LAYERS[name]()
    with pytest.raises(RuntimeError, match=rf"^{name}\b.*: backward called before forward; run forward\(x\) on a "
                                           rf"batch first, then backward\(dout\)"):
        layer.backward(np.ones(INPUT, np.float32))


def test_conv_no_longer_accepts_a_dout_of_another_size_silently():
    # a 3×3 filter without padding maps 6×6 to 4×4; a 6×6 dout used to give a wrong dx without complaint
    conv = v.Conv2D(4, 3)
    conv.forward(batch())
    with pytest.raises(ValueError, match=r"^Conv2D \(filters=4\): backward got dout of shape \(2, 4, 6, 6\), but "
                                         r"the last forward gave an output of shape \(2, 4, 4, 4\)"):
        conv.backward(np.ones((2, 4, 6, 6), np.float32))


def test_a_layer_inside_a_model_is_named_by_its_position():
    model = v.Sequential(v.Conv2D(4, 3, pad=1), v.ReLU(), input_shape=INPUT[1:])
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


def test_losses_check_scores_against_labels():
    # the losses are not layers (they return dscores themselves) but refuse mismatched shapes just as clearly
    with pytest.raises(ValueError, match=r"labels must be \(N,\) = \(4,\) to match the scores, got shape \(3,\)"):
        v.SoftmaxCrossEntropy()(np.zeros((4, 10), np.float32), np.zeros(3, np.int64))
    with pytest.raises(ValueError, match=r"a classification loss wants scores \(N, C\), got shape \(4, 10, 1, 1\)"):
        v.SVMLoss()(np.zeros((4, 10, 1, 1), np.float32), np.zeros(4, np.int64))


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


def test_training_backward_skips_only_the_images_gradient():
    """backward(dout, input_gradient=False) gives the same parameter gradients and no dx."""
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
