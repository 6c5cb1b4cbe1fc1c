"""Dropout: inverted dropout in training, the identity in inference, and its rate."""

import numpy as np
import pytest

import volnet as v


def test_dropout_train_and_inference():
    layer = v.Dropout(0.25, seed=0)
    x = np.ones((100, 1000), np.float32)
    out = layer.forward(x)
    assert abs((out == 0).mean() - 0.25) < 0.01
    np.testing.assert_allclose(out[out != 0], 1 / 0.75)
    np.testing.assert_array_equal(layer.backward(x), out)
    assert layer.eval().forward(x) is x


def test_rate_must_be_below_one():
    with pytest.raises(ValueError, match=r"Dropout rate must be in \[0, 1\)"):
        v.Dropout(1.0)


def test_dropout_words_are_seeded_and_its_summary_leaves_the_seed_out():
    first, second = (v.build_model("dropout0.3 fc2", (4,), seed=seed)[0] for seed in (0, 0))
    assert first.seed == second.seed is not None and first.rate == 0.3
    assert first.summary_name() == "Dropout(rate=0.3)" and first.describe() == "dropout 0.3"
