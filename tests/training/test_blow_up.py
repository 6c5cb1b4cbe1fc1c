"""A blown-up run stops with one clear error, never with a stream of NumPy RuntimeWarnings."""

import math
import warnings

import numpy as np
import pytest

from volnet.layers import SoftmaxCrossEntropy
from volnet.models import build_model
from volnet.training import DivergenceError, NonFiniteError, evaluate, load_checkpoint
from volnet.training.divergence import loss_diverged

FAST = "conv3-8 relu pool fc16 relu fc10"


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
