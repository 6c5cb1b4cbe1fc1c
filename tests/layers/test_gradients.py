"""Every registered layer type's own gradient cases against centred differences, in float64 —
the cases `volnet gradcheck` prints (volnet.gradients.every_layer.layer_cases()); each case and
how its input keeps clear of the kinks of ReLU and max is given by the layer class itself."""

import numpy as np
import pytest

from volnet.gradients.every_layer import TOLERANCE, layer_cases
from volnet.gradients.numerical import assert_gradients_close, check_layer_gradients


@pytest.mark.parametrize("case", layer_cases(), ids=lambda case: case.name)
def test_layer_gradients(case):
    layer = case.make()
    layer.build(case.x.shape[1:], dtype=np.float64, rng=np.random.default_rng(1))
    assert_gradients_close(check_layer_gradients(layer, case.x.copy()), TOLERANCE)
