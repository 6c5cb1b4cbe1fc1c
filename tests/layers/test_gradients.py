"""Every layer's backward against centred differences, in float64.

Inputs are chosen away from kinks, since the five-point stencil samples x ± 2h (h = 1e-3):
ReLU/LeakyReLU inputs have |x| ≥ 0.1; max-pool inputs are a shuffled ramp with gaps of
≥ 0.01 between values, so no perturbation changes a window's winner; the SVM loss is
sampled until every margin is ≥ 0.05 from its hinge.
"""

import numpy as np
import pytest

import volnet as v
from volnet.testing import assert_gradients_close, check_layer_gradients, check_loss_gradient

TOLERANCE = 1e-7


def away_from_zero(shape, seed=0):
    rng = np.random.default_rng(seed)
    return rng.choice([-1.0, 1.0], size=shape) * rng.uniform(0.1, 1.0, size=shape)


def shuffled_ramp(shape, seed=0):
    count = int(np.prod(shape))
    return np.random.default_rng(seed).permutation(count).reshape(shape) * 0.01


VOLUME = (3, 3, 6, 6)

LAYERS = {
    "conv": (lambda: v.Conv2D(4, 3, pad=1), away_from_zero(VOLUME)),
    "conv-stride-2-rect": (lambda: v.Conv2D(2, (3, 2), stride=(2, 1), pad=(1, 0)), away_from_zero((2, 3, 7, 6))),
    "conv-same-dilated": (lambda: v.Conv2D(2, 3, pad="same", dilation=2), away_from_zero(VOLUME)),
    "conv-depthwise": (lambda: v.Conv2D(3, 3, pad=1, groups=3, bias=False), away_from_zero(VOLUME)),
    "maxpool": (lambda: v.MaxPool2D(2), shuffled_ramp(VOLUME)),
    "maxpool-overlapping": (lambda: v.MaxPool2D(3, stride=1, pad=1), shuffled_ramp(VOLUME)),
    "avgpool": (lambda: v.AvgPool2D(3, stride=1), away_from_zero(VOLUME)),
    "global-avgpool": (lambda: v.GlobalAvgPool2D(), away_from_zero(VOLUME)),
    "linear-on-volume": (lambda: v.Linear(5), away_from_zero(VOLUME)),
    "linear": (lambda: v.Linear(4), away_from_zero((4, 7))),
    "flatten": (lambda: v.Flatten(), away_from_zero(VOLUME)),
    "relu": (lambda: v.ReLU(), away_from_zero(VOLUME)),
    "leaky-relu": (lambda: v.LeakyReLU(0.1), away_from_zero(VOLUME)),
    "sigmoid": (lambda: v.Sigmoid(), away_from_zero(VOLUME)),
    "tanh": (lambda: v.Tanh(), away_from_zero(VOLUME)),
    "batchnorm-volume": (lambda: v.BatchNorm(), away_from_zero(VOLUME)),
    "batchnorm-vector": (lambda: v.BatchNorm(), away_from_zero((8, 5))),
    "dropout": (lambda: v.Dropout(0.3, seed=4), away_from_zero(VOLUME)),
    "residual-identity": (lambda: v.Residual([v.Conv2D(3, 3, pad=1), v.Tanh(), v.Conv2D(3, 3, pad=1)]),
                          away_from_zero(VOLUME)),
    # no conv bias before batch norm: BN removes the mean, so that gradient is exactly 0
    "residual-projection": (lambda: v.Residual([v.Conv2D(4, 3, stride=2, pad=1, bias=False), v.BatchNorm()],
                                               projection=v.Conv2D(4, 1, stride=2)), away_from_zero((2, 3, 7, 7))),
    "sequential": (lambda: v.Sequential([v.Conv2D(2, 3, pad=1), v.Tanh(), v.AvgPool2D(), v.Linear(3)]),
                   away_from_zero(VOLUME)),
}


@pytest.mark.parametrize("name", LAYERS)
def test_layer_gradients(name):
    make, x = LAYERS[name]
    layer = make()
    layer.build(x.shape[1:], dtype=np.float64, rng=np.random.default_rng(1))
    assert_gradients_close(check_layer_gradients(layer, x.copy()), TOLERANCE)


def test_batchnorm_in_inference_mode():
    layer = v.BatchNorm()
    x = away_from_zero(VOLUME)
    layer.build(x.shape[1:], dtype=np.float64)
    layer.running_mean.data[:] = [0.1, -0.2, 0.3]
    layer.running_var.data[:] = [0.5, 2.0, 1.5]
    layer.eval()
    assert_gradients_close(check_layer_gradients(layer, x), TOLERANCE)


def test_softmax_cross_entropy_gradient():
    rng = np.random.default_rng(0)
    scores, labels = rng.standard_normal((6, 5)), rng.integers(0, 5, 6)
    for smoothing in (0.0, 0.1):
        assert check_loss_gradient(v.SoftmaxCrossEntropy(smoothing), scores.copy(), labels) < TOLERANCE


def test_svm_loss_gradient():
    rng = np.random.default_rng(0)
    while True:
        scores, labels = rng.standard_normal((6, 5)), rng.integers(0, 5, 6)
        margins = scores - scores[np.arange(6), labels][:, None] + 1
        margins[np.arange(6), labels] = 1  # the correct class has no hinge
        if np.abs(margins).min() > 0.05:
            break
    assert check_loss_gradient(v.SVMLoss(), scores, labels) < TOLERANCE


def test_gradient_check_catches_a_wrong_backward():
    # the utility must fail loudly when backward is wrong
    layer = v.Tanh()
    layer.backward = lambda dout: dout  # forgets the 1 − tanh² factor
    errors = check_layer_gradients(layer, away_from_zero(VOLUME))
    with pytest.raises(AssertionError, match="x="):
        assert_gradients_close(errors, TOLERANCE)
