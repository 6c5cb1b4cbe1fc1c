"""Every layer's and loss's backward against centred differences, in float64.

The cases (and how their inputs keep clear of the kinks of ReLU and max) are the ones
`volnet gradcheck` prints: volnet.gradients.every_layer.layer_cases().
"""

import numpy as np
import pytest

import volnet as v
from volnet.gradients.every_layer import TOLERANCE, check_all_gradients, layer_cases, svm_scores
from volnet.gradients.numerical import away_from_zero
from volnet.gradients.numerical import assert_gradients_close, check_layer_gradients, check_loss_gradient


@pytest.mark.parametrize("case", layer_cases(), ids=lambda case: case.name)
def test_layer_gradients(case):
    layer = case.make()
    layer.build(case.x.shape[1:], dtype=np.float64, rng=np.random.default_rng(1))
    assert_gradients_close(check_layer_gradients(layer, case.x.copy()), TOLERANCE)


def test_batchnorm_in_inference_mode():
    layer = v.BatchNorm()
    x = away_from_zero((3, 3, 6, 6))
    layer.build(x.shape[1:], dtype=np.float64)
    layer.running_mean.data[:] = [0.1, -0.2, 0.3]
    layer.running_var.data[:] = [0.5, 2.0, 1.5]
    layer.eval()
    assert_gradients_close(check_layer_gradients(layer, x), TOLERANCE)


@pytest.mark.parametrize("smoothing", [0.0, 0.1])
def test_softmax_cross_entropy_gradient(smoothing):
    rng = np.random.default_rng(0)
    scores, labels = rng.standard_normal((6, 5)), rng.integers(0, 5, 6)
    assert check_loss_gradient(v.SoftmaxCrossEntropy(smoothing), scores, labels) < TOLERANCE


def test_svm_loss_gradient():
    scores, labels = svm_scores(seed=0)
    assert check_loss_gradient(v.SVMLoss(), scores, labels) < TOLERANCE


def test_every_case_reaches_the_report():
    # what `volnet gradcheck` prints covers every layer case and both losses
    cases = {result.case for result in check_all_gradients()}
    assert cases >= {case.name for case in layer_cases()} and any("SVM" in c for c in cases)


def test_gradient_check_catches_a_wrong_backward():
    # the utility must fail loudly when backward is wrong
    layer = v.Tanh()
    layer.backward = lambda dout: dout  # forgets the 1 − tanh² factor
    errors = check_layer_gradients(layer, away_from_zero((3, 3, 6, 6)))
    with pytest.raises(AssertionError, match="x="):
        assert_gradients_close(errors, TOLERANCE)
