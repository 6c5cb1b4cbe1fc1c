"""How a gradient is checked: the check itself must fail loudly when a backward is wrong."""

import pytest

import volnet as v
from volnet.gradients.every_layer import TOLERANCE
from volnet.gradients.numerical import assert_gradients_close, away_from_zero, check_layer_gradients


def test_gradient_check_catches_a_wrong_backward():
    # the utility must fail loudly when backward is wrong
    layer = v.Tanh()
    layer.backward = lambda dout: dout  # forgets the 1 − tanh² factor
    errors = check_layer_gradients(layer, away_from_zero((3, 3, 6, 6)))
    with pytest.raises(AssertionError, match="x="):
        assert_gradients_close(errors, TOLERANCE)
