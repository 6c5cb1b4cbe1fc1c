"""The CS231n sanity checks: initial loss against ln C, overfitting a tiny subset."""

import math

import numpy as np

from volnet.data import channel_stats
from volnet.layers import SoftmaxCrossEntropy
from volnet.models import build_model
from volnet.training import sanity_check
from volnet.training.sanity import initial_loss, overfit_subset


def test_uniform_scores_give_ln_c(small_split):
    # last layer all zeros: every score is 0, softmax is uniform, the loss is exactly ln 10
    train_set, _ = small_split
    model = build_model("conv3-4 relu pool fc10", (1, 28, 28), seed=0)
    model.layers[-1].weight.data[:] = 0
    loss = initial_loss(model, train_set, SoftmaxCrossEntropy(0.1), channel_stats(train_set))
    assert abs(loss - math.log(10)) < 1e-6  # float32 log-softmax


def test_large_initial_scores_give_a_warning(small_split):
    train_set, _ = small_split
    model = build_model("conv3-4 relu pool fc10", (1, 28, 28), seed=0)
    model.layers[-1].weight.data *= 20
    report = sanity_check(model, train_set, SoftmaxCrossEntropy(), channel_stats(train_set), overfit_examples=8,
                          max_steps=10)
    assert report.expected_loss == math.log(10)
    assert report.initial_loss > math.log(10) + 0.5 and not report.initial_loss_ok
    assert any(line.startswith("warning: the initial loss") for line in report.lines())


def test_a_small_convnet_overfits_twenty_examples(small_split):
    train_set, _ = small_split
    model = build_model("conv3-8 relu pool fc32 relu fc10", (1, 28, 28), seed=0)
    score, steps = overfit_subset(model, train_set, SoftmaxCrossEntropy(), channel_stats(train_set), examples=20)
    assert score == 1.0 and steps <= 300


def test_the_checks_leave_the_model_untouched(small_split):
    train_set, _ = small_split
    model = build_model("conv3-4 bn relu pool dropout0.3 fc10", (1, 28, 28), seed=0)
    state = {name: value.copy() for name, value in model.state().items()}
    generator = model.layers[4].rng.bit_generator.state
    report = sanity_check(model, train_set, SoftmaxCrossEntropy(), channel_stats(train_set), overfit_examples=8,
                          max_steps=20)
    assert all(np.array_equal(state[name], value) for name, value in model.state().items())
    assert model.layers[4].rng.bit_generator.state == generator
    assert report.to_dict()["overfit_examples"] == 8
