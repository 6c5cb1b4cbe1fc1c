"""Occlusion, Grad-CAM and CAM: their definitions, Grad-CAM = CAM on a GAP + FC net, and content on the patch task."""

import numpy as np
import pytest

from volnet.explain import class_activation_map, grad_cam, occlusion_map
from volnet.explain.occlusion import patch_corners
from volnet.explain.pictures import resize_map
from volnet.models import build_model
from volnet.training.metrics import softmax

from .conftest import PATCH_CORNERS, patch_mask


@pytest.mark.parametrize("architecture", ["conv3-4 relu conv3-6 gap fc3", "conv3-4 relu pool conv3-5/s2 gap fc4",
                                          "conv3-4 bn relu res[conv3-4 bn relu conv3-4] gap fc3"])
def test_grad_cam_at_the_volume_gap_averages_is_relu_of_cam_over_z(architecture):
    # Selvaraju et al. 2017, section 3.1: there ∂score_c/∂A[k,i,j] = W[c,k]/Z, so Grad-CAM = ReLU(CAM)/Z
    rng = np.random.default_rng(0)
    model = build_model(architecture, (2, 10, 10), seed=1).to(np.float64)
    feeding = model.layers[-3]
    convs = [layer for _, layer in feeding.named_layers() if type(layer).__name__ == "Conv2D"]
    conv = feeding if not convs else convs[-1]
    for target in range(model.output_shape(model.input_shape)[0]):
        x = rng.standard_normal((2, 10, 10))
        cam = class_activation_map(model, x, target)
        if conv is feeding:
            z = cam.size
            np.testing.assert_allclose(grad_cam(model, x, target, layer=conv), np.maximum(cam, 0) / z, atol=1e-12)
        # CAM is the class score's spatial decomposition: its mean plus the bias is the score
        score = model.eval().forward(x[None])[0, target]
        assert abs(cam.mean() + model.layers[-1].bias.data[target] - score) < 1e-10


def test_grad_cam_weights_each_activation_map_by_its_mean_gradient():
    rng = np.random.default_rng(1)
    model = build_model("conv3-4 relu pool conv3-3 relu fc2", (1, 8, 8), seed=2).to(np.float64)
    x = rng.standard_normal((1, 8, 8))
    conv = model.layers[3]
    model.eval().record()
    model.forward(x[None])
    onehot = np.array([[0.0, 1.0]])
    model.backward(onehot)
    activation, gradient = conv.recorded_output[0], conv.recorded_gradient[0]
    model.record(False)
    expected = np.maximum(sum(gradient[k].mean() * activation[k] for k in range(3)), 0)
    np.testing.assert_allclose(grad_cam(model, x, 1, layer=4), expected, atol=1e-12)
    # the default layer is the last conv, the default class the predicted one
    predicted = int(model.forward(x[None]).argmax())
    np.testing.assert_allclose(grad_cam(model, x), grad_cam(model, x, predicted, layer="4"), atol=1e-12)


def test_grad_cam_and_cam_refuse_what_they_cannot_explain():
    model = build_model("conv3-4 relu pool fc3", (1, 6, 6), seed=0)
    x = np.zeros((1, 6, 6), np.float32)
    with pytest.raises(ValueError, match=r"layer 2 is ReLU #2, not a conv layer; the conv layers are 1"):
        grad_cam(model, x, layer=2)
    with pytest.raises(ValueError, match=r"no layer 9"):
        grad_cam(model, x, layer=9)
    with pytest.raises(ValueError, match=r"CAM needs a model that ends in global average pooling and one "
                                         r"fully-connected layer \(… gap fc10\); this one ends in MaxPool2D Linear"):
        class_activation_map(model, x)
    with pytest.raises(ValueError, match="has no conv layer"):
        grad_cam(build_model("fc4 relu fc3", (1, 6, 6)), x)


def test_occlusion_map_is_the_probability_with_the_patch_at_each_corner():
    rng = np.random.default_rng(2)
    model = build_model("conv3-3 relu fc3", (2, 7, 9), seed=3).to(np.float64)
    x = rng.standard_normal((2, 7, 9))
    found = occlusion_map(model, x, 2, size=3, stride=2, fill=0.5)
    # 7 rows: corners 0, 2, 4 (4 = 7 − 3 reaches the edge); 9 columns: 0, 2, 4, 6
    assert list(found.rows) == [0, 2, 4] and list(found.columns) == [0, 2, 4, 6]
    for a, row in enumerate(found.rows):
        for b, column in enumerate(found.columns):
            occluded = x.copy()
            occluded[:, row:row + 3, column:column + 3] = 0.5
            expected = softmax(model.eval().forward(occluded[None]))[0, 2]
            assert abs(found.probabilities[a, b] - expected) < 1e-12
    assert abs(found.unoccluded - softmax(model.forward(x[None]))[0, 2]) < 1e-12
    # every pixel is covered, and a pixel's value is the mean over the patches covering it
    assert found.pixel_map.shape == (7, 9)
    assert abs(found.pixel_map[0, 0] - found.probabilities[0, 0]) < 1e-12
    assert abs(found.pixel_map[2, 2] - found.probabilities[:2, :2].mean()) < 1e-12
    assert list(patch_corners(8, 3, 5)) == [0, 5] and list(patch_corners(8, 3, 1)) == list(range(6))


def test_occlusion_finds_the_patch_that_decides_the_label(patch_task):
    model, images, labels = patch_task
    for image, label in zip(images, labels):
        found = occlusion_map(model, image, label, size=3, stride=1)
        drop = np.clip(found.unoccluded - found.pixel_map, 0, None)
        # the probability is lowest with the grey patch exactly over the bright one
        a, b = np.unravel_index(found.probabilities.argmin(), found.probabilities.shape)
        assert (found.rows[a], found.columns[b]) == PATCH_CORNERS[label]
        # and most of what is lost, pixel by pixel, is lost over the patch (measured: 71–100 %, median 95 %)
        assert drop[patch_mask(label)].sum() > 0.6 * drop.sum()


def test_occlusion_refuses_patches_that_do_not_fit():
    model = build_model("conv3-3 relu fc3", (1, 6, 6), seed=3)
    x = np.zeros((1, 6, 6), np.float32)
    with pytest.raises(ValueError, match=r"patch must be 1 to 6 pixels on a side for 6×6 images, got size 7"):
        occlusion_map(model, x, 0, size=7)
    with pytest.raises(ValueError, match=r"stride must be at least 1 pixel, got 0"):
        occlusion_map(model, x, 0, size=2, stride=0)


def test_resize_map_keeps_constants_and_interpolates_between_cell_centres():
    np.testing.assert_allclose(resize_map(np.full((2, 3), 4.0), 8, 12), 4.0)
    ramp = resize_map(np.array([[0.0, 1.0]]), 1, 4)
    # cell centres of the 2 source cells fall at target pixels 0.5 and 2.5: 0, 0.25, 0.75, 1
    np.testing.assert_allclose(ramp, [[0.0, 0.25, 0.75, 1.0]])
