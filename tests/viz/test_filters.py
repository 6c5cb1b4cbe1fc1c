import numpy as np
import pytest
from matplotlib import colormaps

from volnet.models import build_model
from volnet.viz.filters import BACKGROUND, conv_layers, filter_grid, filters_figure


def one_hot_filters(filters, depth, size):
    # filter k is 1 at one position (its own), 0 elsewhere, in every depth slice
    weights = np.zeros((filters, depth, size, size))
    for k in range(filters):
        weights[k, :, k // size, k % size] = 1
    return weights


def test_one_hot_grayscale_filters_land_in_their_tiles():
    scale, gap, size = 4, 2, 3
    grid = filter_grid(one_hot_filters(5, 1, size), scale=scale, gap=gap, columns=3)
    tile = size * scale + gap
    assert grid.shape == (gap + 2 * tile, gap + 3 * tile, 3)
    for k in range(5):
        top, left = gap + (k // 3) * tile, gap + (k % 3) * tile
        block = grid[top:top + size * scale, left:left + size * scale]
        # signed weights on the diverging map: 0 is its middle (white), the largest |w| its end (red)
        expected = np.zeros((size, size))
        expected[k // size, k % size] = 1
        colours = colormaps["RdBu_r"](0.5 + 0.5 * expected)[..., :3]
        np.testing.assert_allclose(block, np.kron(colours, np.ones((scale, scale, 1))))
    # the sixth place of the 2×3 grid is empty, and so are the gaps
    np.testing.assert_array_equal(grid[gap + tile:, gap + 2 * tile:], BACKGROUND)
    np.testing.assert_array_equal(grid[:gap], BACKGROUND)


def test_rgb_filters_keep_their_colour():
    weights = np.zeros((3, 3, 2, 2))
    for k in range(3):
        weights[k, k] = 1  # filter k lives in channel k only: pure red, green, blue
    grid = filter_grid(weights, scale=1, gap=1, columns=3)
    for k in range(3):
        pixel = grid[1, 1 + k * 3]
        np.testing.assert_array_equal(pixel, np.eye(3)[k])


def test_deep_filters_are_one_row_per_filter_one_column_per_depth_slice():
    weights = np.zeros((2, 5, 3, 3))
    weights[1, 4, 0, 2] = 2  # filter 1, depth slice 4, top-right corner
    weights[1, 4, 2, 0] = -1
    grid = filter_grid(weights, scale=1, gap=1)
    assert grid.shape == (1 + 2 * 4, 1 + 5 * 4, 3)
    top, left = 1 + 1 * 4, 1 + 4 * 4
    # centred on 0 and scaled by the largest |w| = 2: 2 is full red, −1 half-way to blue, 0 white
    np.testing.assert_allclose(grid[top, left + 2], colormaps["RdBu_r"](1.0)[:3])
    np.testing.assert_allclose(grid[top + 2, left], colormaps["RdBu_r"](0.25)[:3])
    np.testing.assert_allclose(grid[top + 1, left + 1], colormaps["RdBu_r"](0.5)[:3])
    # filter 0 is all zeros: drawn as 0, the middle of the map
    np.testing.assert_allclose(grid[1:4, 1:4], np.broadcast_to(colormaps["RdBu_r"](0.5)[:3], (3, 3, 3)))


def test_conv_layers_are_found_inside_residual_blocks():
    model = build_model("resnet-small")
    layers = conv_layers(model)
    assert len(layers) == 9  # the stem, two in each of three blocks, and two projections
    assert [name for name, _ in layers][:3] == ["1", "4.1", "4.4"]


def test_filters_figure_draws_the_grid():
    model = build_model("conv3-6 relu fc10", input_shape=(3, 8, 8), seed=0)
    _, layer = conv_layers(model)[0]
    figure = filters_figure(layer, "1")
    shown = figure.axes[0].images[0].get_array()
    # 6 filters of depth 3: colour tiles in 2 rows of 3 (each tile plus its gap is as tall as wide)
    assert shown.shape[2] == 3 and 3 * (shown.shape[0] - 2) == 2 * (shown.shape[1] - 2)
    assert "conv 3×3, 6 filters" in figure.texts[0].get_text()
    with pytest.raises(ValueError, match="filters \\(K, D, F, F\\)"):
        filter_grid(np.zeros((3, 3, 3)))
