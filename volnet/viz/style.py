"""One look for every picture: colours with one meaning each, grids of numbers, figures.

Colours mean the same thing in every picture volnet draws:
    FIELD     the receptive field (or pooling window) being looked at, and the filter it meets
    PADDING   the zeros (or −∞) added around a volume
    RESULT    the number being produced: an output cell, a pooling winner
    GRADIENT  numbers flowing backward: dout and what it becomes
    DISCARDED numbers that do not reach the output (pooling losers)

Pictures are drawn on `matplotlib.figure.Figure` objects made without pyplot, so the
library never touches a global backend; notebooks display the returned figures as they are.
Grids are drawn in data coordinates with one unit per cell and y growing downwards, so
cell (row, column) of a grid whose top-left corner is (x0, y0) spans
[x0 + column, x0 + column + 1] × [y0 + row, y0 + row + 1].
"""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

FIELD = "#1f6fb4"
FIELD_FILL = "#d5e6f5"
PADDING_FILL = "#e4e4e4"
PADDING_TEXT = "#8c8c8c"
RESULT = "#d35400"
RESULT_FILL = "#fbe0c8"
GRADIENT = "#8e44ad"
GRADIENT_FILL = "#ecdcf3"
DISCARDED = "#b8b8b8"
AGREE = "#1e8449"
TEXT = "#222222"
GRID_LINE = "#9a9a9a"
CELL_FILL = "#ffffff"

MONOSPACE = "DejaVu Sans Mono"
DPI = 100
ANIMATION_DPI = 85  # animation frames: still readable, and a GIF a third lighter


def new_figure(width: float, height: float, dpi: int = DPI, layout: str | None = None) -> Figure:
    """A white figure of width×height inches with an Agg canvas (no pyplot, no global state);
    layout="constrained" lets matplotlib place subplots and their labels."""
    figure = Figure(figsize=(width, height), dpi=dpi, facecolor="white", layout=layout)
    FigureCanvasAgg(figure)
    return figure


def grid_axes(figure: Figure, width: float, height: float, rect=(0, 0, 1, 1)):
    """Axes spanning `rect` of the figure with data coordinates [0, width] × [0, height], y down."""
    axes = figure.add_axes(rect)
    axes.set_xlim(0, width)
    axes.set_ylim(height, 0)
    axes.set_axis_off()
    return axes


def number_text(value) -> str:
    """A number as the pictures write it: whole numbers without decimals, others to 2
    decimals, a true minus sign, and ±∞ for the padding of max pooling."""
    value = float(value)
    if np.isinf(value):
        return "−∞" if value < 0 else "∞"
    if value == round(value):
        text = str(int(round(value)))
    else:
        text = f"{value:.2f}".rstrip("0")
    return text.replace("-", "−")


def signed_term(value) -> str:
    """A term of a written-out sum: negative numbers in parentheses, "(−2)"."""
    text = number_text(value)
    return f"({text})" if text.startswith("−") else text


class NumberGrid:
    """A 2-D array drawn as a grid of cells with its numbers, whose colours can change later.

    Args:
        axes: grid axes (see grid_axes).
        values: (rows, columns) array.
        x0, y0: the top-left corner in data coordinates.
        padding: how many outer rows/columns are padding (drawn grey), or (rows, columns), or
            a (rows, columns) boolean array marking the padding cells anywhere.
        fontsize: of the numbers; None picks one that fits the cell.
        shade_max: fill each cell with its grey level, value/shade_max (0 black, 1 white),
            so a photograph stays visible under its numbers; None draws white cells.
    """

    def __init__(self, axes, values, x0: float, y0: float, padding=0, fontsize=None, shade_max=None):
        self.values = np.asarray(values)
        self.x0, self.y0 = x0, y0
        rows, columns = self.values.shape
        if np.ndim(padding) == 2:
            is_padding = np.asarray(padding, dtype=bool)
        else:
            pad_rows, pad_columns = (padding, padding) if np.isscalar(padding) else padding
            is_padding = np.zeros((rows, columns), dtype=bool)
            is_padding[:pad_rows] = is_padding[rows - pad_rows:] = True
            is_padding[:, :pad_columns] = is_padding[:, columns - pad_columns:] = True
        self.is_padding = is_padding
        self.base_fill = np.where(is_padding, PADDING_FILL, CELL_FILL).astype(object)
        self.base_text = np.where(is_padding, PADDING_TEXT, TEXT).astype(object)
        if shade_max is not None:
            grey = np.clip(self.values / shade_max, 0, 1)
            for (row, column), level in np.ndenumerate(grey):
                if not is_padding[row, column]:
                    self.base_fill[row, column] = (level, level, level)
                    self.base_text[row, column] = "black" if level > 0.55 else "white"
        if fontsize is None:
            fontsize = cell_fontsize(axes, widest(self.values))
        self.cells = np.empty((rows, columns), dtype=object)
        self.texts = np.empty((rows, columns), dtype=object)
        for row in range(rows):
            for column in range(columns):
                self.cells[row, column] = axes.add_patch(Rectangle(
                    (x0 + column, y0 + row), 1, 1, edgecolor=GRID_LINE, linewidth=0.6))
                self.texts[row, column] = axes.text(
                    x0 + column + 0.5, y0 + row + 0.52, number_text(self.values[row, column]),
                    ha="center", va="center", fontsize=fontsize, family=MONOSPACE)
        self.reset()

    def reset(self):
        """Back to plain cells: padding grey, the rest white (or shaded) with plain numbers."""
        for index in np.ndindex(*self.values.shape):
            self.cells[index].set_facecolor(self.base_fill[index])
            self.texts[index].set_color(self.base_text[index])
            self.texts[index].set_fontweight("normal")

    def set_values(self, values):
        """Write new numbers into the cells (same shape)."""
        self.values = np.asarray(values)
        for index, value in np.ndenumerate(self.values):
            self.texts[index].set_text(number_text(value))

    def paint(self, rows, columns, fill=None, text=None, bold=False):
        """Colour the cells at rows × columns (slices or index arrays)."""
        for cell in np.ravel(self.cells[rows, columns]):
            if fill:
                cell.set_facecolor(fill)
        for label in np.ravel(self.texts[rows, columns]):
            if text:
                label.set_color(text)
            label.set_fontweight("bold" if bold else "normal")

    def show_numbers(self, visible):
        """Show only the numbers where `visible` (a boolean array) is true."""
        for (row, column), shown in np.ndenumerate(np.asarray(visible)):
            self.texts[row, column].set_visible(bool(shown))

    def outline(self, axes, top: int, left: int, height: int, width: int, colour: str, linewidth: float = 3):
        """A thick frame around a block of cells; returned so it can be moved."""
        return axes.add_patch(Rectangle((self.x0 + left, self.y0 + top), width, height, fill=False,
                                        edgecolor=colour, linewidth=linewidth, zorder=5))


SIGNED_MAP = "RdBu_r"  # signed numbers (gradients, filters): blue negative, white 0, red positive


def diverging_fill(value: float, limit: float, strength: float = 0.55):
    """The cell colour of a signed number on a diverging scale centred on 0: white for 0, blue
    for −limit, red for +limit, blended with white by 1 − strength so that numbers stay legible."""
    from matplotlib import colormaps

    position = 0.5 + 0.5 * float(np.clip(value / limit, -1, 1)) if limit else 0.5
    red, green, blue, _ = colormaps[SIGNED_MAP](position)
    return tuple(1 - strength * (1 - channel) for channel in (red, green, blue))


def signed_limits(values) -> tuple[float, float]:
    """(−m, m) with m = max |values|: the range of a diverging colour map centred on 0 (imshow's vmin, vmax)."""
    largest = float(np.max(np.abs(values))) if np.size(values) else 0.0
    largest = largest or 1.0
    return -largest, largest


def wrap_label(text: str, width: int) -> list[str]:
    """A label broken into lines of at most `width` characters, a number kept with its word
    ("pad 1", "stride 2")."""
    return textwrap.wrap(re.sub(r"(pad|stride) ", "\\1\u00a0", text), width)


def widest(*arrays) -> int:
    """The most characters any number of the arrays takes when written by number_text."""
    return max(len(number_text(value)) for array in arrays for value in np.ravel(array))


def cell_fontsize(axes, characters: int) -> float:
    """A font size that fits `characters` characters of DejaVu Sans Mono in one cell."""
    figure = axes.figure
    x_min, x_max = axes.get_xlim()
    axes_width_points = axes.get_position().width * figure.get_figwidth() * 72
    cell_points = axes_width_points / (x_max - x_min)
    # a monospace digit is about 0.6 em wide; keep a margin of 15% of the cell
    return float(min(cell_points * 0.5, cell_points * 0.85 / (0.6 * max(characters, 1))))


def figure_to_array(figure: Figure) -> np.ndarray:
    """Render a figure and return its pixels as an (H, W, 3) uint8 array."""
    canvas = figure.canvas if isinstance(figure.canvas, FigureCanvasAgg) else FigureCanvasAgg(figure)
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[:, :, :3].copy()


def save_figure(figure: Figure, path) -> Path:
    """Write a figure to `path` (format from the suffix, e.g. .png), creating folders."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=figure.dpi, facecolor="white")
    return path
