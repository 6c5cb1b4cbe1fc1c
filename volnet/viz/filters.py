"""What a trained conv layer looks for: its filters drawn as small images.

A first-layer filter is as deep as the input: for an RGB input (depth 3) each filter is one
small colour image, scaled to its own range (w − min)/(max − min). Weights are signed, so every
other filter is drawn on a diverging colour map centred on 0 (style.SIGNED_MAP): white is 0,
blue negative, red positive, each filter scaled to its own largest |w|, so that a weight of 0
looks the same in every filter. For a grayscale input each filter is one tile; deeper filters
are as deep as the volume before them (e.g. 32), so each becomes a row of tiles, one per depth
slice.

Why 3×3 first-layer filters on one-channel images look like noise: nine weights are too few to
draw an edge or a blob that the eye recognises, and each filter is only one of the many paths
from a pixel to the loss, so training moves it little from its random start. Larger first-layer
filters (7×7 and up, as AlexNet's 11×11) trained for a few epochs show recognisable edge and
blob detectors (docs/notes.md, "What the filters learn").
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from volnet.layers import Conv2D, Layer
from volnet.models.numbering import layer_names
from volnet.viz import style
from volnet.viz.diagram import describe

BACKGROUND = 0.85  # the grey between tiles: different from both black and white


def conv_layers(model: Layer) -> list[tuple[str, Conv2D]]:
    """Every Conv2D of a model, in order, with its number as the summary writes it (e.g. "4.1"
    inside block 4, "4.s1" in its shortcut)."""
    return layer_names(model, Conv2D)


def _scaled(filter_weights: np.ndarray) -> np.ndarray:
    low, high = filter_weights.min(), filter_weights.max()
    if high == low:
        return np.full(filter_weights.shape, 0.5)
    return (filter_weights - low) / (high - low)


def _signed_colours(filter_weights: np.ndarray) -> np.ndarray:
    """(..., F, F) weights → (..., F, F, 3) colours of the diverging map, 0 white, ±max|w| full colour."""
    from matplotlib import colormaps

    _, largest = style.signed_limits(filter_weights)
    return colormaps[style.SIGNED_MAP](0.5 + 0.5 * filter_weights / largest)[..., :3]


def filter_grid(weights, scale: int = 8, gap: int = 2, columns: int | None = None) -> np.ndarray:
    """Lay a filter bank out as one RGB image.

    Args:
        weights: (K, D, F, F) filters (FH×FW also works).
        scale: every weight becomes scale×scale pixels.
        gap: pixels of background between tiles and around them.
        columns: tiles per row when each filter is one tile (D = 1 or 3); default ≈ √K.

    Returns:
        (height, width, 3) float array in [0, 1]: RGB filters (D = 3) scaled to their own
        range, the others on the diverging map (module doc). With D = 1 or 3, filter k is the tile in
        row k // columns, column k % columns; with another D, filter k is row k and its
        depth slice d is column d. The tile in row r, column c starts at pixel
        (gap + r·(FH·scale + gap), gap + c·(FW·scale + gap)).
    """
    weights = np.asarray(weights, dtype=np.float64)
    if weights.ndim != 4:
        raise ValueError(f"filter_grid wants filters (K, D, F, F), got shape {weights.shape}")
    filters, depth, height, width = weights.shape
    tiles = [[]]
    if depth in (1, 3):
        columns = columns or math.ceil(math.sqrt(filters))
        for k in range(filters):
            if len(tiles[-1]) == columns:
                tiles.append([])
            tiles[-1].append(_signed_colours(weights[k, 0]) if depth == 1 else _scaled(weights[k]).transpose(1, 2, 0))
    else:
        tiles = [list(_signed_colours(weights[k])) for k in range(filters)]
    rows, columns = len(tiles), max(len(row) for row in tiles)
    tile_height, tile_width = height * scale, width * scale
    grid = np.full((gap + rows * (tile_height + gap), gap + columns * (tile_width + gap), 3), BACKGROUND)
    for r, row in enumerate(tiles):
        for c, tile in enumerate(row):
            top, left = gap + r * (tile_height + gap), gap + c * (tile_width + gap)
            grid[top:top + tile_height, left:left + tile_width] = np.kron(tile, np.ones((scale, scale, 1)))
    return grid


def filters_figure(layer: Conv2D, name: str = ""):
    """The filters of one conv layer as a figure (see filter_grid for the layout).

    Returns:
        A matplotlib Figure.
    """
    weights = layer.weight.data
    filters, depth, height, width = weights.shape
    per_slice = depth not in (1, 3)
    columns = depth if per_slice else math.ceil(math.sqrt(filters))
    # about 800 pixels across at most, and never less than 2 pixels a weight
    scale = max(2, min(16, (800 // columns - 2) // width))
    grid = filter_grid(weights, scale=scale)
    pixels_per_inch = 90
    image_width = max(grid.shape[1] / pixels_per_inch, 4.0)
    image_height = grid.shape[0] * image_width / grid.shape[1]
    figure = style.new_figure(image_width + 1.2, image_height + 1.3)
    axes = figure.add_axes((0.6 / (image_width + 1.2), 0.35 / (image_height + 1.3),
                            image_width / (image_width + 1.2), image_height / (image_height + 1.3)))
    axes.imshow(grid, interpolation="nearest")
    axes.set_xticks([])
    axes.set_yticks([])
    how = ("each row is one filter, each column one depth slice of it" if per_slice else
           f"each tile is one {width}×{height}×{depth} filter" + (" in colour (RGB)" if depth == 3 else ""))
    scale_text = ("each filter scaled to its own range, min 0 and max 1 in each colour" if depth == 3 else
                  "blue negative, white 0, red positive, each filter scaled to its own largest |w|")
    figure.text(0.02, 1 - 0.1 / (image_height + 1.3),
                f"Layer {name}: {describe(layer)}, on a depth-{depth} input\n{how};\n{scale_text}", fontsize=10,
                va="top", linespacing=1.4)
    if per_slice:
        step = height * scale + 2
        if filters <= 64:
            axes.set_yticks([2 + k * step + height * scale / 2 for k in range(filters)],
                            [f"w{k}" for k in range(filters)], fontsize=max(5, min(9, 400 / filters)))
        axes.set_xlabel(f"depth slice 0 … {depth - 1} →", fontsize=9)
        axes.set_ylabel(f"filter 0 … {filters - 1} ↓", fontsize=9)
    return figure


def save_filters_figure(layer: Conv2D, name: str, folder, file_name: str = "filters") -> list[Path]:
    """Write `file_name`.png into folder (see filters_figure)."""
    return [style.save_figure(filters_figure(layer, name), Path(folder) / f"{file_name}.png")]


def filters_before_after_figure(before: Conv2D, after: Conv2D, name: str = ""):
    """One conv layer's filters at initialisation and after training, side by side, on the same
    diverging map (filter_grid): what training changed. Returns a Figure.

    Raises:
        ValueError: the two layers' filters differ in shape.
    """
    if before.weight.data.shape != after.weight.data.shape:
        raise ValueError(f"before and after must be the same layer: filters of shape {before.weight.data.shape} "
                         f"and {after.weight.data.shape}")
    filters, depth, height, width = after.weight.data.shape
    scale = max(4, 72 // width)
    grids = [filter_grid(layer.weight.data, scale=scale, gap=max(2, scale // 2)) for layer in (before, after)]
    image_height = 3.2 * grids[0].shape[0] / grids[0].shape[1]
    figure = style.new_figure(7.4, image_height + 1.4)
    for column, (grid, title) in enumerate(zip(grids, ("before training", "after training"))):
        axes = figure.add_axes((0.03 + column * 0.5, 0.3 / (image_height + 1.4), 0.44, image_height / (image_height + 1.4)))
        axes.imshow(grid, interpolation="nearest")
        axes.set_xticks([])
        axes.set_yticks([])
        axes.set_title(title, fontsize=10)
    figure.text(0.03, 1 - 0.1 / (image_height + 1.4),
                f"Layer {name}: {describe(after)}, {filters} filters of {width}×{height}×{depth}\n"
                f"blue negative, white 0, red positive, each filter scaled to its own largest |w|",
                fontsize=10, va="top", linespacing=1.4)
    return figure
