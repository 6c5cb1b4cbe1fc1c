"""A model drawn as the notes draw it: the volume after each layer, as a box labelled W×H×D.

Every layer that makes a new volume (a conv, a pool, a fully-connected layer, a residual
block, flatten: each layer whose `elementwise` is False) gets a box, labelled with its number (as `volnet summary` numbers it) and,
for a conv layer, its parameter count as (F·F·D + 1)·K and what it would be without
parameter sharing (Layer.sharing); the elementwise layers after it (ReLU, batch norm,
dropout, ...) keep its shape and are written on the arrow that leads to it; a residual block's
shortcut is an arrow over the top, from the block's input to its output, labelled "identity" or
with the projection it applies (Layer.diagram_shortcut). Each layer is named by Layer.describe. A volume D×H×W is a cuboid:
its front face is H high and D wide, and it recedes W into the page; a vector of D numbers
is a thin bar D long. Sizes grow with the square root of the dimension, so that a
224×224×3 input and a 7×7×512 volume fit in one picture and still look bigger or smaller
than each other.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from matplotlib.patches import FancyArrowPatch, Polygon

from volnet.layers import Layer, Sequential, format_shape
from volnet.models.numbering import layer_number
from volnet.viz import style

PER_ROW = 7
SHORTCUT_SPACE = 0.45  # inches above a row of boxes for the shortcut arrows of its residual blocks


@dataclass
class Volume:
    """One box of the diagram: the shape of one example after `layers` (D, H, W) or (D,);
    `shortcut` describes the skip connection when the box is a residual block's output."""

    shape: tuple[int, ...]
    layers: list[str] = field(default_factory=list)
    shortcut: str | None = None


def describe(layer: Layer) -> str:
    """A short name for a layer, in the notes' words: "conv 3×3, 32 filters", "max pool 2×2" (Layer.describe)."""
    return layer.describe()


def model_volumes(model: Sequential, input_shape=None) -> list[Volume]:
    """The volumes of a model, input first (see the module doc for which layers make a box).

    Args:
        model: a Sequential. input_shape: (D, H, W) of one example; default: the model's own.

    Raises:
        ValueError: no input shape is known, or a layer does not fit (its own message).
    """
    shape = input_shape if input_shape is not None else model.input_shape
    if shape is None:
        raise ValueError("the model has no input shape yet; give input_shape, e.g. (1, 28, 28)")
    volumes = [Volume(tuple(shape), ["input"])]
    for layer in model.layers:
        shape_in, shape = shape, layer.output_shape(shape)
        # numbered as `volnet summary` and `volnet show ... --layer` number it
        name = f"{layer_number(layer.index)}: {describe(layer)}" if layer.index else describe(layer)
        if layer.elementwise:
            volumes[-1].layers.append(name)
            continue
        volumes.append(Volume(tuple(shape), [name], layer.diagram_shortcut()))
        sharing = layer.sharing(shape_in, shape)
        if sharing is not None:
            shared, _, _ = sharing.formulas()
            volumes[-1].layers += [f"params {shared}", f"(unshared: {sharing.unshared:,})"]
    return volumes


def _box_size(volume: Volume, largest_side: int, largest_depth: int):
    """(front width, front height, recession) in inches: √-scaled, never vanishing."""
    def scaled(value, largest, longest):
        return max(longest * np.sqrt(value / largest), 0.06)

    if len(volume.shape) == 3:
        depth, height, width = volume.shape
        return scaled(depth, largest_depth, 0.7), scaled(height, largest_side, 1.5), scaled(width, largest_side, 0.9)
    return 0.1, scaled(volume.shape[0], max(largest_depth, volume.shape[0]), 1.5), 0.1


def model_figure(volumes: list[Volume], title: str = ""):
    """Draw the volumes left to right (wrapping after seven), each with its W×H×D and, below,
    the layers that made it.

    Returns:
        A matplotlib Figure.
    """
    sides = [s for v in volumes if len(v.shape) == 3 for s in v.shape[1:]] or [1]
    depths = [v.shape[0] for v in volumes]
    largest_side, largest_depth = max(sides), max(depths)
    sizes = [_box_size(v, largest_side, largest_depth) for v in volumes]
    labels = ["\n".join(line for layer in (["input"] if i == 0 else v.layers) for line in style.wrap_label(layer, 28))
              for i, v in enumerate(volumes)]
    step, line = 2.0, 0.16  # inches from one box to the next; of one line of 8.5 pt text
    rows = [list(range(start, min(start + PER_ROW, len(volumes)))) for start in range(0, len(volumes), PER_ROW)]
    heights = []
    for row in rows:
        boxes = max(sizes[i][1] + 0.6 * sizes[i][2] for i in row)
        text = max(labels[i].count("\n") + 1 for i in row) * line
        over = SHORTCUT_SPACE if any(volumes[i].shortcut for i in row) else 0.0  # room for the shortcut arrows
        heights.append((over, boxes, over + boxes + 0.45 + text + 0.35))
    width = step * min(len(volumes), PER_ROW) + 0.4
    top_margin = 0.5 if title else 0.15
    height = top_margin + sum(total for _, _, total in heights)
    figure = style.new_figure(width, height)
    axes = figure.add_axes((0, 0, 1, 1))
    axes.set_xlim(0, width)
    axes.set_ylim(0, height)
    axes.set_axis_off()
    if title:
        axes.text(0.2, height - 0.15, title, fontsize=11.5, fontweight="bold", va="top")
    row_top = height - top_margin
    tops = {}  # index -> (the top of its box, how far off the centre a shortcut arrow meets it)
    for row, (over, boxes, total) in zip(rows, heights):
        row_top -= over
        middle = row_top - boxes / 2
        for column, index in enumerate(row):
            front, tall, recede = sizes[index]
            centre = 0.2 + step * column + step / 2
            left = centre - (front + 0.5 * recede) / 2
            bottom = middle - (tall + 0.6 * recede) / 2
            _cuboid(axes, left, bottom, front, tall, recede, index == 0)
            axes.text(centre, row_top - boxes - 0.12, format_shape(volumes[index].shape), ha="center", va="top",
                      fontsize=10, fontweight="bold")
            axes.text(centre, row_top - boxes - 0.42, labels[index], ha="center", va="top", fontsize=8.5,
                      color=style.FIELD if index else style.PADDING_TEXT, linespacing=1.25)
            if index:
                start = centre - step + 0.6 if column else 0.15
                axes.add_patch(FancyArrowPatch((start, bottom + tall / 2), (left - 0.08, bottom + tall / 2),
                                               arrowstyle="-|>", mutation_scale=12, color=style.FIELD, linewidth=1.3))
            # a shortcut arrow leaves and lands a little off the centre, so that those of consecutive blocks stay apart
            tops[index] = (bottom + tall + 0.6 * recede, min(0.12, front / 3))
            if volumes[index].shortcut:
                # from the block's input (the box before, or the arrow that starts the row) to its output
                (top, inset), (input_top, input_inset) = tops[index], tops[index - 1]
                start = (centre - step + input_inset, input_top) if column else (0.15, bottom + tall / 2)
                _shortcut_arrow(axes, start, (centre - inset, top), row_top + over - 0.25, volumes[index].shortcut)
        row_top -= total - over
    return figure


def _shortcut_arrow(axes, start, end, level: float, label: str):
    """The skip connection: up from the top of the block's input at start (x, y), across at height
    `level`, down onto the top of its output at end (x, y), labelled with what the shortcut does."""
    (start_x, start_y), (end_x, end_y) = start, end
    axes.plot([start_x, start_x, end_x], [start_y, level, level], color=style.FIELD, linewidth=1.1, linestyle="--")
    axes.add_patch(FancyArrowPatch((end_x, level), (end_x, end_y + 0.04), arrowstyle="-|>", mutation_scale=10,
                                   color=style.FIELD, linewidth=1.1, linestyle="--"))
    axes.text((start_x + end_x) / 2, level + 0.04, "+ " + label, ha="center", va="bottom", fontsize=8,
              color=style.FIELD)


def _cuboid(axes, left, bottom, front, tall, recede, is_input):
    """A box whose front face is front×tall, receding by `recede` up and to the right."""
    dx, dy = 0.5 * recede, 0.6 * recede
    colour = "#f3f3f3" if is_input else style.FIELD_FILL
    faces = [
        [(left, bottom), (left + front, bottom), (left + front, bottom + tall), (left, bottom + tall)],
        [(left, bottom + tall), (left + front, bottom + tall), (left + front + dx, bottom + tall + dy),
         (left + dx, bottom + tall + dy)],
        [(left + front, bottom), (left + front + dx, bottom + dy), (left + front + dx, bottom + tall + dy),
         (left + front, bottom + tall)],
    ]
    for face, shade in zip(faces, (1.0, 0.9, 0.8)):
        axes.add_patch(Polygon(face, closed=True, facecolor=_darker(colour, shade), edgecolor=style.TEXT,
                               linewidth=0.8))


def _darker(colour: str, factor: float):
    red, green, blue = (int(colour[i:i + 2], 16) / 255 for i in (1, 3, 5))
    return red * factor, green * factor, blue * factor


def save_model_figure(volumes: list[Volume], folder, name: str = "model", title: str = "") -> list[Path]:
    """Write `name`.png into folder (see model_figure)."""
    return [style.save_figure(model_figure(volumes, title), Path(folder) / f"{name}.png")]
