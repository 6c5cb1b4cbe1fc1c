import numpy as np
import pytest

from volnet.layers import Residual, SoftmaxCrossEntropy
from volnet.models import PRESETS, build_model, get_preset, list_presets, summary_totals


def test_the_presets():
    assert [preset.name for preset in list_presets()] == ["tiny", "fashion", "cifar10", "resnet-small"]
    assert all(preset.description and preset.classes == 10 for preset in list_presets())


@pytest.mark.parametrize("name", list(PRESETS))
def test_preset_builds_and_runs_forward_and_backward(name):
    preset = get_preset(name)
    model = build_model(name, seed=0)
    assert model.input_shape == preset.input_shape
    x = np.random.default_rng(0).standard_normal((2, *preset.input_shape)).astype(np.float32)
    scores = model.forward(x)
    assert scores.shape == (2, preset.classes) and scores.dtype == np.float32
    loss, dscores = SoftmaxCrossEntropy()(scores, np.array([0, 1]))
    assert model.backward(dscores).shape == x.shape
    assert np.isfinite(loss)


def test_resnet_small_has_residual_blocks_with_projections():
    blocks = [layer for layer in build_model("resnet-small").layers if isinstance(layer, Residual)]
    assert [block.projection is not None for block in blocks] == [False, True, True]


def test_preset_sizes_stay_small():
    # the presets must train on 2 CPU cores: a guard on their cost (numbers in the summary)
    assert summary_totals(build_model("tiny"))["multiply_adds"] < 2_000_000
    assert all(summary_totals(build_model(name))["multiply_adds"] < 50_000_000 for name in PRESETS)


def test_preset_input_shape_can_be_overridden():
    model = build_model("resnet-small", input_shape=(1, 28, 28))
    assert model.forward(np.zeros((1, 1, 28, 28), np.float32)).shape == (1, 10)


def test_unknown_preset():
    with pytest.raises(ValueError, match=r"unknown preset 'cifar' \(did you mean 'cifar10'\?\); the presets are tiny"):
        get_preset("cifar")
