"""Non-finite numbers stop training with the epoch, the step and the first layer that went bad."""

import numpy as np
import pytest

from volnet.layers import SoftmaxCrossEntropy
from volnet.models import build_model
from volnet.training import NonFiniteError, locate_non_finite
from volnet.training.divergence import describe_non_finite


def test_a_huge_learning_rate_is_caught_with_its_step_and_layer(make_trainer, small_split):
    trainer = make_trainer(lr=1e12, architecture="conv3-8 relu pool fc16 relu fc10")
    with pytest.raises(NonFiniteError) as caught:
        trainer.fit(*small_split, epochs=1)
    error = caught.value
    assert error.epoch == 1 and error.step >= 1  # the first step is taken from finite weights
    assert f"epoch 1, step {error.step}" in str(error)
    assert "#" in error.where  # a layer is named, e.g. "Conv2D #1"
    assert "Lower the learning rate" in str(error)


def test_an_injected_inf_weight_names_its_layer(make_trainer, small_split):
    trainer = make_trainer(architecture="conv3-8 relu pool fc16 relu fc10")
    trainer.model.layers[3].weight.data[0, 0] = np.inf  # fc16
    with pytest.raises(NonFiniteError, match=r"epoch 1, step 0") as caught:
        trainer.fit(*small_split, epochs=1)
    assert caught.value.where.startswith("the parameter 'weight' of Linear #4")


def test_a_backward_pass_that_makes_nan_is_named(make_trainer, small_split):
    trainer = make_trainer(architecture="conv3-8 relu pool fc16 relu fc10")
    relu = trainer.model.layers[4]
    relu.backward = lambda dout: dout * np.nan
    with pytest.raises(NonFiniteError) as caught:
        trainer.fit(*small_split, epochs=1)
    assert caught.value.where.startswith("the gradient dx of ReLU #5")


def test_non_finite_input_is_blamed_on_the_data():
    model = build_model("fc10", (4,), seed=0)
    x = np.ones((2, 4), np.float32)
    x[1, 2] = np.nan
    where = locate_non_finite(model, x, np.array([0, 1]), SoftmaxCrossEntropy())
    assert where.startswith("the input batch (1 NaN and 0 inf of 8 numbers)")


def test_the_first_non_finite_output_is_named():
    # Linear #1 overflows float32; ReLU #2 and Linear #3 only pass the inf on
    model = build_model("fc4 relu fc10", (3,), seed=0)
    model.layers[0].weight.data[:] = 1e38
    where = locate_non_finite(model, np.full((2, 3), 4, np.float32), np.array([0, 1]), SoftmaxCrossEntropy())
    assert where.startswith("the output of Linear #1")


def test_describe_counts_nan_and_inf():
    assert describe_non_finite(np.array([1.0, np.nan, np.inf, -np.inf])) == "1 NaN and 2 inf of 4 numbers"
    assert describe_non_finite(np.zeros(3)) is None
