"""Every registered layer type's own gradient cases against centred differences, in float64 —
the cases `volnet gradcheck` prints (volnet.gradients.every_layer.layer_cases()); each case and
how its input keeps clear of the kinks of ReLU and max is given by the layer class itself."""

import numpy as np
import pytest

import volnet as v
from volnet.gradients.every_layer import TOLERANCE, check_all_gradients, layer_cases
from volnet.gradients.numerical import assert_gradients_close, away_from_zero, check_layer_gradients


@pytest.mark.parametrize("case", layer_cases(), ids=lambda case: case.name)
def test_layer_gradients(case):
    layer = case.make()
    layer.build(case.x.shape[1:], dtype=np.float64, rng=np.random.default_rng(1))
    assert_gradients_close(check_layer_gradients(layer, case.x.copy()), TOLERANCE)


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
