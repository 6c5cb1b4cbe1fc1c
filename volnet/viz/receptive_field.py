"""The receptive field of one neuron, through the whole stack, layer by layer.

A neuron at position (i, j) of a layer's output sees a block of the volume before it (its
filter's F×F), each of whose neurons saw a block of the volume before that, and so on down to
the input. The region is computed from the geometry alone (volnet.models.receptive_field,
r ← r + (F_eff − 1)·j, j ← j·S, start ← start − P·j), not from a gradient: a gradient through
max pooling reaches only the winners of this one input, and so marks too small a region.

`receptive_field_regions` gives, for every volume from the input to the chosen layer, the
rows and columns of it that the neuron depends on; `receptive_field_figure` draws them side
by side, each volume as a grid with its region shaded.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from volnet.layers import Sequential, format_shape
from volnet.models.receptive_field import field_along
from volnet.models.summary import find_row, summary_rows
from volnet.ops.geometry import ReceptiveField2D
from volnet.viz import style
from volnet.viz.diagram import describe


@dataclass(frozen=True)
class FieldRegion:
    """The part of one volume that the chosen neuron depends on.

    Attributes:
        number: the layer after which this volume comes ("" for the input), as the summary numbers it.
        description: the layer in the notes' words ("conv 3×3, 16 filters").
        shape: the volume (D, H, W).
        rows, columns: (first, last) positions of the region, clipped to the volume.
        field: the neuron's receptive field relative to this volume (height, width).
    """

    number: str
    description: str
    shape: tuple[int, int, int]
    rows: tuple[int, int]
    columns: tuple[int, int]
    field: ReceptiveField2D

    def text(self) -> str:
        where = "input" if not self.number else f"after layer {self.number} ({self.description})"
        height, width = self.field
        return (f"{where}, {format_shape(self.shape)}: rows {self.rows[0]}–{self.rows[1]}, columns "
                f"{self.columns[0]}–{self.columns[1]}  (field {self.field.size_text()}, jump "
                f"{height.jump if height.jump == width.jump else (width.jump, height.jump)})")


def receptive_field_regions(model: Sequential, layer: str | None = None, at=None, input_shape=None) -> list[FieldRegion]:
    """What neuron `at` = (i, j) of layer `layer` sees in every volume before it.

    Args:
        model: a Sequential. layer: a top-level layer's number as `volnet summary` writes it
            (default: the last layer whose output is a volume). at: (i, j), default the centre.
        input_shape: (D, H, W); default the model's own.

    Returns:
        One FieldRegion per volume, the input first, then after every layer up to `layer` that
        changes the volume's geometry (elementwise layers keep their predecessor's), the last
        one being the neuron itself.

    Raises:
        ValueError: an unknown or nested layer, one whose output is not a volume, or a position
            outside it.
    """
    rows = summary_rows(model, input_shape)
    top_level = [row for row in rows[1:] if row.level == 0]
    if layer is None:
        volumes = [row for row in top_level if len(row.output_shape) == 3]
        if not volumes:
            raise ValueError("the model has no layer whose output is a volume (D, H, W), so no neuron has a position")
        target = volumes[-1]
    else:
        target = find_row(rows, layer)
        if target.level:
            raise ValueError(f"--layer {target.number} is inside a residual block; give the block's number "
                             f"({target.number.split('.')[0]}) to see what its output neurons see")
    if len(target.output_shape) != 3:
        raise ValueError(f"layer {target.number} ({target.layer}) outputs a vector of {target.output_shape[0]}: every "
                         f"number of it sees the whole input; choose a layer whose output is a volume (D, H, W)")
    _, out_height, out_width = target.output_shape
    i, j = (out_height // 2, out_width // 2) if at is None else at
    if not (0 <= i < out_height and 0 <= j < out_width):
        raise ValueError(f"--at {i},{j} is outside layer {target.number}'s {out_width}×{out_height} output: rows "
                         f"0…{out_height - 1}, columns 0…{out_width - 1}")
    path = top_level[:top_level.index(target) + 1]
    volumes = [(rows[0], "input")] + [(row, describe(row.layer_object)) for row in path
                                      if not row.layer_object.elementwise]
    regions = []
    for position, (row, description) in enumerate(volumes):
        # the neuron's field relative to this volume: through the layers after it, up to the target
        after = path[path.index(row) + 1:] if row in path else path
        field = field_along(later.layer_object for later in after)
        _, height, width = row.output_shape
        regions.append(FieldRegion(row.number, description, tuple(row.output_shape), field[0].span(i, height),
                                   field[1].span(j, width), field))
    return regions


def receptive_field_figure(regions: list[FieldRegion], title: str = ""):
    """The volumes side by side, each a grid of its H×W positions with the region shaded
    (the last, the neuron itself, in the result colour). Returns a Figure."""
    largest = max(max(region.shape[1:]) for region in regions)
    panel = 2.6  # inches of the largest volume
    widths = [panel * region.shape[2] / largest for region in regions]
    gap = 0.7
    text_lines = len(regions) + 1
    figure_width = max(sum(widths) + gap * (len(regions) + 1), 8.0)
    figure_height = 1.1 + panel + 0.5 + 0.2 * text_lines
    figure = style.new_figure(figure_width, figure_height)
    first = regions[0]
    last = regions[-1]
    heading = (f"{title + ': ' if title else ''}neuron ({last.rows[0]}, {last.columns[0]}) of layer {last.number} sees "
               f"rows {first.rows[0]}–{first.rows[1]}, columns {first.columns[0]}–{first.columns[1]} of the "
               f"{format_shape(first.shape)} input (computed from F, S, P, layer by layer)")
    figure.text(0.15 / figure_width, 1 - 0.1 / figure_height, heading, fontsize=10.5, fontweight="bold", va="top")
    x = gap
    for number, (region, width) in enumerate(zip(regions, widths)):
        _, height_cells, width_cells = region.shape
        height = panel * height_cells / largest
        axes = figure.add_axes((x / figure_width, (0.2 * text_lines + 0.5 + panel - height) / figure_height,
                                width / figure_width, height / figure_height))
        image = np.ones((height_cells, width_cells, 3))
        colour = style.RESULT if number == len(regions) - 1 else style.FIELD_FILL
        image[region.rows[0]:region.rows[1] + 1, region.columns[0]:region.columns[1] + 1] = _rgb(colour)
        axes.imshow(image, interpolation="nearest", extent=(0, width_cells, height_cells, 0))
        if max(height_cells, width_cells) <= 40:
            axes.set_xticks(np.arange(width_cells + 1), minor=True)
            axes.set_yticks(np.arange(height_cells + 1), minor=True)
            axes.grid(which="minor", color=style.GRID_LINE, linewidth=0.4)
        axes.tick_params(which="both", length=0, labelbottom=False, labelleft=False)
        edge = style.RESULT if number == len(regions) - 1 else style.FIELD
        axes.add_patch(_frame(region, edge))
        name = "input" if not region.number else f"{region.number}: {region.description}"
        axes.set_title("\n".join([*style.wrap_label(name, max(14, int(width * 11))), format_shape(region.shape)]),
                       fontsize=8.5, loc="left")
        x += width + gap
    lines = [region.text() for region in regions]
    lines.append("A gradient would mark less: through max pooling it reaches only each window's winner for this one "
                 "input.")
    figure.text(0.15 / figure_width, (0.2 * text_lines + 0.2) / figure_height, "\n".join(lines), fontsize=8.5,
                va="top", family=style.MONOSPACE, linespacing=1.4)
    return figure


def _rgb(colour: str):
    return tuple(int(colour[k:k + 2], 16) / 255 for k in (1, 3, 5))


def _frame(region: FieldRegion, colour: str):
    from matplotlib.patches import Rectangle

    return Rectangle((region.columns[0], region.rows[0]), region.columns[1] - region.columns[0] + 1,
                     region.rows[1] - region.rows[0] + 1, fill=False, edgecolor=colour, linewidth=2)


def save_receptive_field_figure(regions: list[FieldRegion], folder, name: str = "receptive-field",
                                title: str = "") -> list[Path]:
    """Write `name`.png into folder (see receptive_field_figure)."""
    return [style.save_figure(receptive_field_figure(regions, title), Path(folder) / f"{name}.png")]
