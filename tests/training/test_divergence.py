"""Non-finite numbers stop training with the epoch, the step and the first layer that went bad; a
blown-up run stops with one clear error, never with a stream of NumPy RuntimeWarnings
(volnet.training.divergence and the Trainer's use of it)."""

import math
import warnings

import numpy as np
import pytest

from volnet.layers import SoftmaxCrossEntropy
from volnet.models import build_model
from volnet.training import DivergenceError, NonFiniteError, evaluate, load_checkpoint, locate_non_finite
from volnet.training.divergence import describe_non_finite, loss_diverged

FAST = "conv3-8 relu pool fc16 relu fc10"


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


# -- a loss that blows up -------------------------------------------------------------------------


@pytest.fixture
def warnings_are_errors():
    # a RuntimeWarning anywhere (overflow, invalid value) fails the test
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        yield


def test_a_huge_learning_rate_stops_with_the_step_the_layer_and_the_advice(make_trainer, small_split,
                                                                           warnings_are_errors):
    # Adam at lr 100: the loss goes from ln 10 ≈ 2.3 to ~1e13 in one step, every number still finite
    trainer = make_trainer(lr=100, architecture=FAST)
    with pytest.raises(DivergenceError, match=r"training diverged at epoch 1, step 1: the loss \S+ is more than "
                                              r"1000 times the first step's 2\.\d+; the largest weights are in "
                                              r"the parameter '\w+' of \w+ #\d") as caught:
        trainer.fit(*small_split, epochs=1)
    assert "Lower the learning rate (it is " in str(caught.value) and "--lr" in str(caught.value)
    assert not isinstance(caught.value, NonFiniteError)
    assert (caught.value.epoch, caught.value.step) == (1, 1)
    assert trainer.step == 1  # the diverged step was not taken


def test_the_divergence_rule():
    # more than 1000 × the first step's loss and above 100; never for NaN or inf, never before a first loss
    assert loss_diverged(2301.0, 2.3) and not loss_diverged(2299.0, 2.3)
    assert not loss_diverged(99.0, 0.01) and loss_diverged(101.0, 0.01)
    assert not loss_diverged(math.inf, 2.3) and not loss_diverged(math.nan, 2.3)
    assert not loss_diverged(1e30, None)


def test_an_update_that_overflows_a_weight_is_caught_at_its_own_step(make_trainer, small_split, warnings_are_errors):
    trainer = make_trainer(architecture=FAST)
    step = trainer.optimizer.step

    def overflowing_step():
        step()
        trainer.model.layers[3].weight.data[0, 0] = np.inf  # fc16

    trainer.optimizer.step = overflowing_step
    with pytest.raises(NonFiniteError, match=r"training went non-finite at epoch 1, step 0 \(loss [\d.]+\): first in "
                                             r"the parameter 'weight' of Linear #4 \(units=16\) \(0 NaN and 1 inf "
                                             r"of \d+ numbers\)\. Lower the learning rate \(it is [\d.e-]+; --lr"):
        trainer.fit(*small_split, epochs=1)


def test_the_first_loss_survives_a_resume(make_trainer, small_split, tmp_path):
    trainer = make_trainer(tmp_path, architecture=FAST)
    trainer.fit(*small_split, epochs=1)
    assert 2.0 < trainer.first_loss < 2.6  # about ln 10 for 10 classes
    resumed = make_trainer(architecture=FAST)
    resumed.resume(tmp_path / "checkpoint.npz")
    assert resumed.first_loss == trainer.first_loss == load_checkpoint(tmp_path / "checkpoint.npz").first_loss


def test_evaluating_a_blown_up_model_is_quiet(small_split, warnings_are_errors):
    _, val_set = small_split
    model = build_model("fc16 relu fc10", (1, 28, 28), seed=0)
    model.layers[0].weight.data[:] = 3e38  # every output of fc16 overflows float32
    result = evaluate(model, val_set, loss=SoftmaxCrossEntropy())
    assert not math.isfinite(result.loss)
