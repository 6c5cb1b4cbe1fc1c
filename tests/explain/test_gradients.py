"""The class score's gradient: against centred differences, in inference mode, leaving the model as it was;
saliency's content on a task whose answer is known; the randomisation sanity check."""

import numpy as np
import pytest

from volnet.explain import guided_backprop, input_gradient, saliency_map, score_gradient
from volnet.explain.probe import check_example, class_index, find_layer
from volnet.models import build_model

from .conftest import PATCH_CORNERS, patch_mask

# (architecture, the input's side): pooling, stride, batch norm, a residual block, dropout
ARCHITECTURES = [("conv3-4 relu pool fc5", 6), ("conv3-3/s2/p0 bn relu conv3-4 relu gap fc3", 7),
                 ("conv3-4 bn relu res[conv3-4 bn relu] avgpool dropout0.5 fc4", 6)]


def numeric_score_gradient(model, x, target, step=1e-6):
    # centred differences of score_target, one input number at a time
    numeric = np.zeros_like(x)
    for index in np.ndindex(*x.shape):
        plus, minus = x.copy(), x.copy()
        plus[index] += step
        minus[index] -= step
        numeric[index] = (model.forward(plus[None])[0, target] - model.forward(minus[None])[0, target]) / (2 * step)
    return numeric


@pytest.mark.parametrize("architecture, side", ARCHITECTURES)
def test_input_gradient_matches_centred_differences_of_the_class_score(architecture, side):
    rng = np.random.default_rng(3)
    model = build_model(architecture, (2, side, side), seed=4).to(np.float64)
    # running statistics of a batch, so that inference-mode batch norm is not the identity
    model.forward(rng.standard_normal((16, 2, side, side)) * 2 + 1)
    x = rng.standard_normal((2, side, side))
    classes = model.output_shape(model.input_shape)[0]
    for target in range(classes):
        analytic = input_gradient(model, x, target)
        model.eval()
        numeric = numeric_score_gradient(model, x, target)
        model.train()
        # float64, step 1e-6: centred differences are exact to ~1e-9 for these piecewise-smooth nets
        assert np.abs(analytic - numeric).max() < 1e-7 * max(1.0, np.abs(numeric).max())


def test_the_gradient_is_of_the_score_in_inference_mode_and_leaves_the_model_as_it_was():
    rng = np.random.default_rng(0)
    model = build_model("conv3-4 bn relu dropout0.5 fc3", (1, 5, 5), seed=0).to(np.float64)
    model.forward(rng.standard_normal((8, 1, 5, 5)))  # training mode: running statistics move
    for parameter in model.parameters().values():
        parameter.grad[...] = rng.standard_normal(parameter.grad.shape)
    grads = {name: grad.copy() for name, grad in model.grads.items()}
    x = rng.standard_normal((3, 1, 5, 5))
    first = score_gradient(model, x, [0, 1, 2])
    second = score_gradient(model, x, [0, 1, 2])
    # dropout is off and batch norm uses running statistics: the same answer twice
    np.testing.assert_array_equal(first.input_gradient, second.input_gradient)
    assert model.training and not any(layer.recording for _, layer in model.named_layers())
    assert all(np.array_equal(grads[name], grad) for name, grad in model.grads.items())
    # each example's gradient is of its own class's score: the batch equals three single passes
    for n, target in enumerate([0, 1, 2]):
        np.testing.assert_allclose(first.input_gradient[n], input_gradient(model, x[n], target), atol=1e-12)


def test_saliency_is_the_largest_absolute_gradient_over_the_depth():
    rng = np.random.default_rng(1)
    model = build_model("conv3-4 relu fc3", (3, 5, 5), seed=2).to(np.float64)
    x = rng.standard_normal((3, 5, 5))
    gradient = input_gradient(model, x, 1)
    saliency = saliency_map(model, x, 1)
    assert saliency.shape == (5, 5)
    np.testing.assert_array_equal(saliency, np.abs(gradient).max(axis=0))
    # the default class is the predicted one
    predicted = int(model.eval().forward(x[None]).argmax())
    np.testing.assert_array_equal(saliency_map(model, x), saliency_map(model, x, predicted))


def test_saliency_is_the_gradient_of_the_class_score_through_batch_norm_in_inference_mode():
    # (the lab's saliency view is this map)
    rng = np.random.default_rng(0)
    model = build_model("conv3-4 bn relu pool fc6 tanh fc3", input_shape=(2, 6, 6), seed=1, dtype=np.float64)
    model.forward(rng.standard_normal((8, 2, 6, 6)))  # running statistics away from their start
    x = rng.standard_normal((2, 6, 6))
    found = saliency_map(model, x, 2)
    assert model.training  # put back as it was
    epsilon, numeric = 1e-6, np.zeros_like(x)
    model.eval()
    for index in np.ndindex(x.shape):
        step = np.zeros_like(x)
        step[index] = epsilon
        numeric[index] = (model.forward((x + step)[None])[0, 2] - model.forward((x - step)[None])[0, 2]) / (2 * epsilon)
    np.testing.assert_allclose(found, np.abs(numeric).max(axis=0), rtol=1e-6, atol=1e-9)


def test_saliency_and_guided_backprop_look_at_the_patch_that_decides_the_label(patch_task):
    model, images, labels = patch_task
    for image, label in zip(images, labels):
        for method in (saliency_map, lambda m, x, c: np.abs(guided_backprop(m, x, c)).max(axis=0)):
            values = method(model, image, label)
            places = [values[patch_mask(k)].sum() for k in range(len(PATCH_CORNERS))]
            # the true patch is the most salient of the four places the patch can be
            assert int(np.argmax(places)) == label
            # per pixel, the patch is over 3× as salient as the rest of the image (measured: 4.5–7.6× for
            # saliency, 4.0–7.1× for guided backprop; the rest is not zero because "no patch at the other
            # places" is evidence too)
            mask = patch_mask(label)
            assert values[mask].mean() > 3 * values[~mask].mean()


def test_randomised_weights_give_a_clearly_different_saliency_map(patch_task):
    # Adebayo et al. 2018: a map that survives re-initialising the weights explains nothing about them
    model, images, labels = patch_task
    random_model = build_model("conv3-8 relu pool fc16 relu fc4", (1, 12, 12), seed=7).to(np.float64)
    correlations = []
    for image, label in zip(images, labels):
        trained, randomised = saliency_map(model, image, label), saliency_map(random_model, image, label)
        ranks = [np.argsort(np.argsort(m.ravel())) for m in (trained, randomised)]
        correlations.append(np.corrcoef(*ranks)[0, 1])
        # the untrained net does not single out the patch (measured: at most 1.22× the rest, per pixel)
        assert randomised[patch_mask(label)].mean() < 2.5 * randomised[~patch_mask(label)].mean()
    # Spearman rank correlation of the two maps: near 0, nowhere near 1 (measured: mean −0.03, −0.20 to 0.14)
    assert np.mean(correlations) < 0.3


def test_guided_backprop_passes_back_only_positive_gradients_at_relus_and_restores_them():
    rng = np.random.default_rng(2)
    model = build_model("conv3-4 relu fc3", (1, 5, 5), seed=3).to(np.float64)
    x = rng.standard_normal((1, 5, 5))
    guided = guided_backprop(model, x, 0)
    # by hand: the fc gradient, clipped at 0, through the ReLU's mask, then the conv's backward
    model.eval().record()
    model.forward(x[None])
    fc, relu, conv = model.layers[2], model.layers[1], model.layers[0]
    onehot = np.zeros((1, 3)); onehot[0, 0] = 1
    dout = np.maximum(fc.backward(onehot), 0) * (relu.recorded_output > 0)
    np.testing.assert_allclose(guided, conv.backward(dout)[0], atol=1e-12)
    model.record(False)
    assert "backward" not in vars(relu)  # the ordinary backward is back
    np.testing.assert_allclose(input_gradient(model, x, 0), numeric_score_gradient(model.eval(), x, 0), atol=1e-7)


def test_bad_examples_classes_and_layers_are_refused_with_the_rule():
    model = build_model("conv3-4 relu pool fc3", (1, 6, 6), seed=0)
    with pytest.raises(ValueError, match=r"takes examples of 6×6×1 \(D, H, W = \(1, 6, 6\)\), got one of shape "
                                         r"\(3, 6, 6\) \(6×6×3\)"):
        check_example(model, np.zeros((3, 6, 6)))
    with pytest.raises(ValueError, match=r"got one of shape \(1, 1, 6, 6\)"):
        saliency_map(model, np.zeros((1, 1, 6, 6)))
    with pytest.raises(TypeError, match="floating-point"):
        saliency_map(model, np.zeros((1, 6, 6), dtype=np.uint8))
    with pytest.raises(ValueError, match=r"class 3 does not exist: the model has 3 classes, 0 to 2"):
        saliency_map(model, np.zeros((1, 6, 6)), 3)
    with pytest.raises(ValueError, match=r"unknown class 'dog'; the model's classes are 0 'cat', 1 'Sneaker', 2 'bag'"):
        class_index(model, "dog", ["cat", "Sneaker", "bag"])
    assert class_index(model, " sneaker ", ["cat", "Sneaker", "bag"]) == 1
    with pytest.raises(ValueError, match=r"no layer 7; its layers are numbered as in `volnet summary`: 1, 2, 3, 4"):
        find_layer(model, 7)
