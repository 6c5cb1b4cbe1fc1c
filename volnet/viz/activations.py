"""What a trained model sees: the activation maps of every conv and pool layer for one input.

Each filter of a conv layer gives one activation map (one depth slice of its output
volume): where in the input it found what it looks for. The model runs in inference mode
on one example, layer by layer, and the output of every Conv2D, pooling layer and residual
block is kept. Maps of one layer share one colour scale, so a map that stays dark is a
filter that did not fire; maps with signs (a conv's output before its ReLU) use the diverging
map centred on 0 (white 0, blue negative, red positive).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from volnet.layers import AvgPool2D, Conv2D, MaxPool2D, Residual, Sequential, format_shape
from volnet.models.numbering import layer_number
from volnet.viz import style
from volnet.viz.diagram import describe

RECORDED = (Conv2D, MaxPool2D, AvgPool2D, Residual)


@dataclass(frozen=True)
class LayerActivations:
    """The output volume of one layer for one input: maps (D, H, W), one per depth slice."""

    index: str
    description: str
    maps: np.ndarray


def model_input(image, normalization=None) -> np.ndarray:
    """An image as the model saw its training data: scaled to [0, 1], then normalised.

    Args:
        image: (C, H, W) uint8.
        normalization: the volnet.data.Normalization saved with the model, or None.

    Returns:
        (C, H, W) float32.
    """
    from volnet.data.batching import scaled_batch

    return scaled_batch(np.asarray(image)[None], normalization)[0]


def activation_maps(model: Sequential, x) -> list[LayerActivations]:
    """Run one example through the model and keep every conv, pool and residual output.

    Args:
        model: a built Sequential. x: (D, H, W), one example, normalised as in training.

    Returns:
        One LayerActivations per recorded layer, in order. The model's mode (training or
        inference) is restored afterwards.

    Raises:
        ValueError: x does not have the model's input shape.
    """
    x = np.asarray(x, dtype=model.dtype)
    if model.input_shape is not None and x.shape != tuple(model.input_shape):
        raise ValueError(f"the model takes inputs of {format_shape(model.input_shape)} (D, H, W = "
                         f"{tuple(model.input_shape)}), got an example of shape {x.shape}")
    was_training = model.training
    model.eval()
    try:
        batch, found = x[None], []
        for layer in model.layers:
            batch = layer.forward(batch)
            if isinstance(layer, RECORDED):
                found.append(LayerActivations(layer_number(layer.index), describe(layer), batch[0].copy()))
    finally:
        model.train(was_training)
    return found


def activations_figure(layer: LayerActivations, image=None, columns: int | None = None):
    """The activation maps of one layer as a grid, with the input image beside them.

    Args:
        layer: from activation_maps. image: (C, H, W) uint8 input to show, or None.
        columns: maps per row; default about twice as many columns as rows.

    Returns:
        A matplotlib Figure.
    """
    maps = layer.maps
    depth, height, width = maps.shape
    columns = columns or min(depth, max(4, math.ceil(math.sqrt(2 * depth))))
    rows = math.ceil(depth / columns)
    tile = max(0.45, min(1.1, 9.0 / columns))
    titled = tile >= 0.6  # room to number the maps
    pitch = tile + (0.18 if titled else 0.0)
    left = 1.9 if image is not None else 0.2
    figure = style.new_figure(left + columns * tile + 0.9, max(rows * pitch, 1.8) + 0.75)
    width_in, height_in = figure.get_figwidth(), figure.get_figheight()
    figure.text(0.15 / width_in, 1 - 0.1 / height_in,
                f"Layer {layer.index}: {layer.description} → {format_shape(maps.shape)}: {depth} activation maps",
                fontsize=10.5, va="top", fontweight="bold")
    low, high = float(maps.min()), float(maps.max())
    if high == low:
        high = low + 1
    # signed maps (a conv's output before its ReLU) on the diverging map centred on 0; others on viridis
    colours = style.SIGNED_MAP if low < 0 < high else "viridis"
    if colours == style.SIGNED_MAP:
        low, high = style.signed_limits(maps)
    shown = None
    for number in range(depth):
        row, column = divmod(number, columns)
        axes = figure.add_axes(((left + column * tile) / width_in, (height_in - 0.55 - (row + 1) * pitch) / height_in,
                                (tile - 0.05) / width_in, (tile - 0.05) / height_in))
        shown = axes.imshow(maps[number], cmap=colours, vmin=low, vmax=high, interpolation="nearest")
        axes.set_xticks([])
        axes.set_yticks([])
        if titled:
            axes.set_title(str(number), fontsize=7.5, pad=2)
    colour_axes = figure.add_axes(((left + columns * tile + 0.15) / width_in,
                                   (height_in - 0.55 - rows * pitch) / height_in,
                                   0.15 / width_in, (rows * pitch - 0.2) / height_in))
    figure.colorbar(shown, cax=colour_axes)
    colour_axes.tick_params(labelsize=8)
    if image is not None:
        axes = figure.add_axes((0.15 / width_in, (height_in - 0.55 - 1.6) / height_in, 1.5 / width_in, 1.5 / height_in))
        picture = np.asarray(image)
        axes.imshow(picture[0] if picture.shape[0] == 1 else picture.transpose(1, 2, 0), cmap="gray", vmin=0,
                    vmax=255, interpolation="nearest")
        axes.set_xticks([])
        axes.set_yticks([])
        axes.set_title("input", fontsize=9)
    return figure


def save_activation_figures(layers: list[LayerActivations], folder, image=None,
                            name: str = "activations") -> list[Path]:
    """Write one PNG per layer into folder: `name`-01.png, `name`-02.png, … in layer order."""
    folder = Path(folder)
    return [style.save_figure(activations_figure(layer, image), folder / f"{name}-{number:02d}.png")
            for number, layer in enumerate(layers, start=1)]
