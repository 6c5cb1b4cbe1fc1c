import numpy as np
import pytest

from volnet.data import Normalization
from volnet.models import build_model
from volnet.viz.activations import activation_maps, activations_figure, model_input


def test_every_conv_and_pool_output_is_kept():
    model = build_model("conv3-4 relu pool conv3-6 bn relu avgpool fc10", input_shape=(1, 8, 8), seed=1)
    x = np.random.default_rng(0).standard_normal((1, 8, 8)).astype(np.float32)
    layers = activation_maps(model, x)
    assert [(layer.index, layer.maps.shape) for layer in layers] == [
        ("1", (4, 8, 8)), ("3", (4, 4, 4)), ("4", (6, 4, 4)), ("7", (6, 2, 2))]
    # the maps are what the layers give, run by hand in inference mode
    model.eval()
    out = x[None]
    by_index = {}
    for layer in model.layers:
        out = layer.forward(out)
        by_index[str(layer.index)] = out[0]
    for layer in layers:
        np.testing.assert_array_equal(layer.maps, by_index[layer.index])


def test_the_models_mode_is_restored():
    model = build_model("conv3-2 bn relu fc2", input_shape=(1, 4, 4))
    model.train()
    activation_maps(model, np.zeros((1, 4, 4), np.float32))
    assert model.training and all(layer.training for layer in model.layers)


def test_an_input_of_the_wrong_shape_is_refused():
    model = build_model("conv3-2 fc2", input_shape=(1, 4, 4))
    with pytest.raises(ValueError, match="takes inputs of 4×4×1"):
        activation_maps(model, np.zeros((3, 4, 4)))


def test_model_input_normalises_as_training_did():
    image = np.full((1, 2, 2), 255, np.uint8)
    np.testing.assert_allclose(model_input(image), 1.0)
    normalization = Normalization(mean=(0.5,), std=(0.25,))
    np.testing.assert_allclose(model_input(image, normalization), 2.0)


def test_figure_has_one_panel_per_map_and_the_input():
    model = build_model("conv3-5 relu fc2", input_shape=(1, 6, 6))
    layer = activation_maps(model, np.ones((1, 6, 6), np.float32))[0]
    figure = activations_figure(layer, image=np.zeros((1, 6, 6), np.uint8))
    panels = [axes for axes in figure.axes if axes.images]
    assert len(panels) == 5 + 1
    np.testing.assert_array_equal(panels[2].images[0].get_array(), layer.maps[2])
