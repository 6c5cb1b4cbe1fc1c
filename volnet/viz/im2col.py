"""The matrix implementation of a conv layer, drawn: im2col, one matrix multiply, a reshape.

The CS231n notes' recipe, for an input volume x (D, H, W), K filters w (K, D, F, F),
stride S and pad P, with OH×OW output positions:

    X_col = im2col(x)              (D·F·F, OH·OW): column k is the receptive field of output
                                   position k = i·OW + j, stretched out in (d, row, column) order
    W_row = w.reshape(K, -1)       (K, D·F·F): row f is filter f, stretched out the same way
    out   = W_row @ X_col + b      (K, OH·OW): entry (f, k) is filter f's dot product with field k
    out.reshape(K, OH, OW)         the output volume, one depth slice per filter

`im2col_demo` computes every one of these with volnet (volnet.ops.im2col with
layout="notes", and conv2d_forward to check the product against); `im2col_figure` draws
them with their numbers, one receptive field and one filter highlighted; for layers too big
to write out (the notes' AlexNet layer), `im2col_shapes_figure` draws the same matrices by
shape, to scale, with the memory the repeated numbers cost (`Im2colShapes`).

volnet's own conv multiplies another layout of the same numbers (layout="rows": one field a
ROW, in (row, column, d) order, X_colᵀ with its rows permuted), because that order walks
memory in sequence; `Im2colShapes.layouts()` says so in words.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from matplotlib.patches import FancyArrowPatch, Rectangle

from volnet.layers.base import format_shape
from volnet.ops.conv import conv2d_forward
from volnet.ops.geometry import output_size
from volnet.ops.conv_im2col import im2col
from volnet.viz import style
from volnet.viz.convolution import random_demo_volume

# beyond these the matrices have too many numbers to read; they are drawn by shape instead
MAX_FIELD_NUMBERS = 27  # D·F·F, the rows of X_col
MAX_POSITIONS = 25  # OH·OW, its columns
MAX_PADDED_SIZE = 9
MAX_FILTERS = 4
# the notes' example: AlexNet's first layer
ALEXNET = dict(width=227, height=227, depth=3, filters=96, size=11, stride=4, pad=0)


@dataclass(frozen=True)
class Im2colShapes:
    """The shapes of the matrix implementation of one conv layer on one input volume, and what
    the stretched-out receptive fields cost.

    Attributes:
        width, height, depth: W, H, D of the input. filters: K. size: F. stride: S. pad: P.
        out_width, out_height: OW, OH = (W − F + 2P)/S + 1.
    """

    width: int
    height: int
    depth: int
    filters: int
    size: int
    stride: int
    pad: int
    out_width: int
    out_height: int

    @classmethod
    def of(cls, width, height, depth, filters, size, stride=1, pad=0) -> "Im2colShapes":
        """The shapes for a layer; ValueError (the output-size rule's) if the filter does not fit."""
        return cls(width, height, depth, filters, size, stride, pad, output_size(width, size, stride, pad),
                   output_size(height, size, stride, pad))

    @property
    def field_numbers(self) -> int:
        """F·F·D: the rows of X_col, the columns of W_row."""
        return self.size * self.size * self.depth

    @property
    def positions(self) -> int:
        """OH·OW: the columns of X_col and of the product."""
        return self.out_height * self.out_width

    def repeats(self) -> float:
        """How many times X_col holds each number of the (unpadded) input, on average."""
        return self.field_numbers * self.positions / (self.width * self.height * self.depth)

    def lines(self, itemsize: int = 4) -> list[str]:
        """The recipe with this layer's shapes, and the memory cost of X_col (at `itemsize` bytes a number)."""
        fields, positions, k = self.field_numbers, self.positions, self.filters
        inputs = self.width * self.height * self.depth
        return [
            f"input {self.width}×{self.height}×{self.depth}, {k} filters {self.size}×{self.size} stride {self.stride} "
            f"pad {self.pad}: OW = ({self.width} − {self.size} + 2·{self.pad})/{self.stride} + 1 = {self.out_width}",
            f"X_col = im2col(x)          [{fields} × {positions}]   each column one {self.size}×{self.size}×"
            f"{self.depth} receptive field",
            f"W_row = w.reshape({k}, −1)  [{k} × {fields}]   each row one filter",
            f"W_row @ X_col + b          [{k} × {positions}]   → reshape → {self.out_width}×{self.out_height}×{k}",
            f"X_col holds {fields:,}·{positions:,} = {fields * positions:,} numbers ({_mebibytes(fields * positions * itemsize)}"
            f" as float32) for an input of {inputs:,} ({_mebibytes(inputs * itemsize)}): each input number "
            f"{self.repeats():.1f} times on average, because the receptive fields overlap",
        ]

    def layouts(self) -> str:
        """volnet's layout beside the notes'."""
        return (f"The notes' X_col is volnet.ops.im2col(x, ..., layout=\"notes\"). volnet's own conv uses layout=\"rows\": "
                f"[{self.positions} × {self.field_numbers}], one field a ROW in (row, column, depth) order, so "
                f"w.reshape({self.filters}, −1) does not match it.")


def _mebibytes(count: int) -> str:
    return f"{count / 2 ** 20:.1f} MiB" if count >= 2 ** 17 else f"{count / 1024:.1f} KiB"


@dataclass(frozen=True)
class Im2colDemo:
    """A convolution of one volume done the notes' way, with every matrix.

    Attributes:
        x: (D, H, W). weights: (K, D, F, F). bias: (K,). stride, pad: S, P.
        padded: (D, H + 2P, W + 2P). x_col: (D·F·F, OH·OW). w_row: (K, D·F·F).
        product: (K, OH·OW) = w_row @ x_col + bias. out: (K, OH, OW) from volnet's conv2d_forward,
            equal to product reshaped.
        shapes: the Im2colShapes of the layer.
    """

    x: np.ndarray
    weights: np.ndarray
    bias: np.ndarray
    stride: int
    pad: int
    padded: np.ndarray
    x_col: np.ndarray
    w_row: np.ndarray
    product: np.ndarray
    out: np.ndarray
    shapes: Im2colShapes

    def field(self, column: int) -> tuple[int, int]:
        """The top-left corner (row, column) in the padded input of output position `column`'s field."""
        i, j = divmod(column, self.shapes.out_width)
        return i * self.stride, j * self.stride

    def expression(self, column: int, filter_: int) -> str:
        """Entry (filter_, column) of the product written out: row · column + bias."""
        terms = [f"{style.signed_term(w)}·{style.signed_term(x)}" for w, x in zip(self.w_row[filter_],
                                                                                    self.x_col[:, column])]
        lines = [" + ".join(terms[start:start + 9]) for start in range(0, len(terms), 9)]
        i, j = divmod(column, self.shapes.out_width)
        return (f"W_row[{filter_}] · X_col[:, {column}] + b{filter_} = " + " +\n    ".join(lines)
                + f" + b{filter_} ({style.number_text(self.bias[filter_])}) = "
                f"{style.number_text(self.product[filter_, column])}"
                f"   → out[{filter_}, {i}, {j}]")


def im2col_demo(x, weights, bias, stride: int = 1, pad: int = 0) -> Im2colDemo:
    """Do one volume's convolution as im2col + matrix multiply and check it against conv2d_forward.

    Args:
        x: (D, H, W). weights: (K, D, F, F), square filters. bias: (K,). stride: S. pad: P.

    Raises:
        ValueError: wrong shapes, a filter that does not fit (the output-size rule's message),
            or matrices too large to write out (draw them with im2col_shapes_figure instead).
    """
    x, weights, bias = (np.asarray(a, dtype=np.float64) for a in (x, weights, bias))
    if x.ndim != 3 or weights.ndim != 4 or weights.shape[1] != x.shape[0] or bias.shape != weights.shape[:1] \
            or weights.shape[2] != weights.shape[3]:
        raise ValueError(f"im2col_demo wants x (D, H, W), square filters (K, D, F, F) and bias (K,); "
                         f"got {x.shape}, {weights.shape} and {bias.shape}")
    depth, height, width = x.shape
    filters, _, size, _ = weights.shape
    shapes = Im2colShapes.of(width, height, depth, filters, size, stride, pad)
    check_readable(shapes)
    x_col = im2col(x[None], (size, size), (shapes.out_height, shapes.out_width), (stride, stride), (pad, pad),
                   layout="notes")
    w_row = weights.reshape(filters, -1)
    product = w_row @ x_col + bias[:, None]
    out = conv2d_forward(x[None], weights, bias, stride=stride, pad=pad)[0][0]
    assert np.allclose(product.reshape(out.shape), out), "im2col's product differs from conv2d_forward"
    padded = np.pad(x, ((0, 0), (pad, pad), (pad, pad)))
    return Im2colDemo(x, weights, bias, stride, pad, padded, x_col, w_row, product, out, shapes)


def check_readable(shapes: Im2colShapes):
    """Raise a clear error if the matrices would have too many numbers to write out."""
    limits = (("D·F·F (the rows of X_col)", shapes.field_numbers, MAX_FIELD_NUMBERS),
              ("OH·OW (its columns)", shapes.positions, MAX_POSITIONS),
              ("width + 2·pad", shapes.width + 2 * shapes.pad, MAX_PADDED_SIZE),
              ("height + 2·pad", shapes.height + 2 * shapes.pad, MAX_PADDED_SIZE),
              ("filters", shapes.filters, MAX_FILTERS))
    for name, value, limit in limits:
        if value > limit:
            raise ValueError(f"the im2col picture writes out every number, so it keeps {name} ≤ {limit}; got {value}. "
                             f"Choose a smaller layer, or draw it by shape (volnet show im2col --by-shape).")


def random_im2col_inputs(width=4, height=4, depth=2, filters=2, size=2, seed=0):
    """Small whole numbers, as in the convolution demo (random_demo_volume)."""
    return random_demo_volume(width, height, depth, filters, size, seed)


class Im2colPicture:
    """The matrices laid out as a matrix multiply is written by hand: X_col top right, W_row
    bottom left, their product where the two meet, the output volume beside it; the input
    volume top left and the filters under W_row, so each matrix sits by what it came from.
    `show(column, filter_)` highlights one receptive field → its column, one filter → its
    row, and their product → one output number."""

    CELL_INCHES = 0.3
    GAP = 2.0

    def __init__(self, demo: Im2colDemo):
        self.demo = demo
        shapes = demo.shapes
        depth, padded_height, padded_width = demo.padded.shape
        fields, positions, filters, size = shapes.field_numbers, shapes.positions, shapes.filters, shapes.size
        gap = self.GAP
        input_width = depth * padded_width + (depth - 1) * 1.0
        self.col_left = max(input_width, fields) + gap + 1.5
        top = 2.6
        band = max(fields, padded_height + 1.5)
        self.row_top = top + band + gap
        filters_top = self.row_top + filters + gap
        out_left = self.col_left + positions + gap + 1.0
        # the output slices, or their title ("reshaped: the output volume", about 8 cells wide) if wider
        width = max(out_left + max(filters * (shapes.out_width + 1.0), 8.5) + 0.5, self.col_left + positions + 6)
        height = filters_top + size + 0.6
        text_lines = len(self._footer(0, 0))
        header_inches, footer_inches = 0.2, 0.22 * text_lines + 0.2
        figure_width = max(width * self.CELL_INCHES + 0.4, 10.0)
        figure_height = header_inches + height * self.CELL_INCHES + footer_inches
        self.figure = style.new_figure(figure_width, figure_height)
        axes = style.grid_axes(self.figure, width, height, rect=(
            0.2 / figure_width, footer_inches / figure_height, width * self.CELL_INCHES / figure_width,
            height * self.CELL_INCHES / figure_height))
        self.axes = axes
        title = dict(fontsize=10.5, fontweight="bold", va="bottom", linespacing=1.3)
        label = dict(fontsize=9, va="bottom", color=style.TEXT)
        fontsize = style.cell_fontsize(axes, style.widest(demo.padded, demo.x_col, demo.w_row, demo.product))
        axes.text(0, top - 1.1, f"input volume x, pad {demo.pad}\n{format_shape(demo.padded.shape)}", **title)
        self.inputs = []
        for d in range(depth):
            x0 = d * (padded_width + 1.0)
            axes.text(x0, top - 0.1, f"depth {d}", **label)
            self.inputs.append(style.NumberGrid(axes, demo.padded[d], x0, top, padding=demo.pad, fontsize=fontsize))
        axes.text(self.col_left, top - 1.1, f"X_col = im2col(x)   [{fields} × {positions}]\n"
                                             f"column k = the receptive field of output k, stretched", **title)
        self.x_col = style.NumberGrid(axes, demo.x_col, self.col_left, top, fontsize=fontsize)
        for k in range(positions):
            axes.text(self.col_left + k + 0.5, top + fields + 0.1, str(k), ha="center", va="top", fontsize=7.5,
                      color=style.PADDING_TEXT)
        # which input number each row of X_col holds: depth slice, then row and column of the field
        for row, (d, a, c) in enumerate(np.ndindex(depth, size, size)):
            axes.text(self.col_left + positions + 0.3, top + row + 0.55, f"d{d} r{a} c{c}", va="center", fontsize=7.5,
                      color=style.PADDING_TEXT, family=style.MONOSPACE)
        w_left = self.col_left - fields - 1.0
        axes.text(w_left, self.row_top - 0.15, f"W_row = w.reshape({filters}, −1)\n[{filters} × {fields}]", **title)
        self.w_row = style.NumberGrid(axes, demo.w_row, w_left, self.row_top, fontsize=fontsize)
        for f in range(filters):
            axes.text(w_left - 0.3, self.row_top + f + 0.55, f"w{f}", ha="right", va="center", fontsize=8.5)
        axes.text(self.col_left, self.row_top - 0.15, f"W_row @ X_col + b\n[{filters} × {positions}]", **title)
        self.product = style.NumberGrid(axes, demo.product, self.col_left, self.row_top, fontsize=fontsize)
        axes.text(out_left, self.row_top - 1.35, f"reshaped: the output volume\n{format_shape(demo.out.shape)}", **title)
        self.outputs = []
        for f in range(filters):
            x0 = out_left + f * (shapes.out_width + 1.0)
            axes.text(x0, self.row_top + 0.1 - 0.25, "", **label)
            self.outputs.append(style.NumberGrid(axes, demo.out[f], x0, self.row_top + 0.6, fontsize=fontsize))
            axes.text(x0, self.row_top + 0.5, f"slice {f}", **label)
        axes.text(0, filters_top - 0.15, "the filters w (K, D, F, F), each stretched into one row of W_row:", **label)
        self.filters = []
        x0 = 0.0
        for f in range(filters):
            grids = []
            for d in range(depth):
                axes.text(x0, filters_top + size + 0.05, f"w{f} d{d}", va="top", fontsize=8)
                grids.append(style.NumberGrid(axes, demo.weights[f, d], x0, filters_top, fontsize=fontsize))
                x0 += size + 0.6
            self.filters.append(grids)
            x0 += 1.0
        self.field_outlines = [grid.outline(axes, 0, 0, size, size, style.FIELD) for grid in self.inputs]
        self.column_outline = self.x_col.outline(axes, 0, 0, fields, 1, style.FIELD)
        self.row_outline = self.w_row.outline(axes, 0, 0, 1, fields, style.RESULT)
        self.product_outline = self.product.outline(axes, 0, 0, 1, 1, style.RESULT)
        self.out_outline = self.outputs[0].outline(axes, 0, 0, 1, 1, style.RESULT)
        self.arrow = axes.add_patch(FancyArrowPatch((0, 0), (1, 1), arrowstyle="-|>", mutation_scale=14,
                                                    color=style.FIELD, linewidth=1.5, zorder=6))
        self.caption = self.figure.text(0.2 / figure_width, (footer_inches - 0.1) / figure_height, "", fontsize=9.5,
                                        va="top", family=style.MONOSPACE, linespacing=1.4)

    def show(self, column: int = 0, filter_: int = 0):
        """Highlight output position `column` (k = i·OW + j) of filter `filter_`."""
        demo, size = self.demo, self.demo.shapes.size
        if not (0 <= column < demo.shapes.positions and 0 <= filter_ < demo.shapes.filters):
            raise ValueError(f"the picture has output positions 0…{demo.shapes.positions - 1} and filters "
                             f"0…{demo.shapes.filters - 1}; got position {column} and filter {filter_}")
        top, left = demo.field(column)
        for grid in (*self.inputs, self.x_col, self.w_row, self.product, *self.outputs,
                     *(grid for grids in self.filters for grid in grids)):
            grid.reset()
        for grid, outline in zip(self.inputs, self.field_outlines):
            grid.paint(slice(top, top + size), slice(left, left + size), fill=style.FIELD_FILL, bold=True)
            outline.set_xy((grid.x0 + left, grid.y0 + top))
        self.x_col.paint(slice(None), column, fill=style.FIELD_FILL, bold=True)
        self.column_outline.set_xy((self.x_col.x0 + column, self.x_col.y0))
        self.w_row.paint(filter_, slice(None), fill=style.RESULT_FILL, bold=True)
        self.row_outline.set_xy((self.w_row.x0, self.w_row.y0 + filter_))
        for grid in self.filters[filter_]:
            grid.paint(slice(None), slice(None), fill=style.RESULT_FILL, bold=True)
        self.product.paint(filter_, column, fill=style.RESULT_FILL, text=style.RESULT, bold=True)
        self.product_outline.set_xy((self.product.x0 + column, self.product.y0 + filter_))
        i, j = divmod(column, demo.shapes.out_width)
        target = self.outputs[filter_]
        target.paint(i, j, fill=style.RESULT_FILL, text=style.RESULT, bold=True)
        self.out_outline.set_xy((target.x0 + j, target.y0 + i))
        last = self.inputs[-1]
        self.arrow.set_positions((last.x0 + left + size + 0.1, last.y0 + top + size / 2),
                                 (self.x_col.x0 + column - 0.1, self.x_col.y0 + 0.5))
        self.caption.set_text("\n".join(self._footer(column, filter_)))
        return self.figure

    def _footer(self, column, filter_) -> list[str]:
        shapes = self.demo.shapes
        i, j = divmod(column, shapes.out_width)
        depth_column = (f"Column {column} times all {shapes.filters} rows of W_row gives the {shapes.filters} numbers "
                        f"of the depth column at ({i}, {j}): every filter looking at the same receptive field.")
        return [*self.demo.expression(column, filter_).splitlines(),
                *textwrap.wrap(depth_column, WRAP_WIDTH, subsequent_indent="    "), "", *wrapped(shapes)]


WRAP_WIDTH = 112  # characters of the monospaced footer lines: as wide as the picture at its smallest


def wrapped(shapes: Im2colShapes, width: int = WRAP_WIDTH) -> list[str]:
    """The recipe, the memory cost and the layouts (Im2colShapes.lines and .layouts), wrapped to `width`."""
    return [line for text in [*shapes.lines(), shapes.layouts()]
            for line in textwrap.wrap(text, width, subsequent_indent="    ")]


def im2col_figure(demo: Im2colDemo, column: int = 0, filter_: int = 0):
    """The matrix implementation with its numbers (see Im2colPicture); returns a Figure."""
    return Im2colPicture(demo).show(column, filter_)


def im2col_shapes_figure(shapes: Im2colShapes, column: int = 0, filter_: int = 0):
    """The same matrices by shape, to scale (one unit of length per matrix entry): the input
    volume with one receptive field, X_col with its column, W_row with its row, the product
    with one number, and the output volume. Returns a Figure."""
    fields, positions, filters = shapes.field_numbers, shapes.positions, shapes.filters
    # scale: the widest thing (the product's OH·OW columns, or the input and W_row side by side) fits 10 inches
    span = max(positions + max(shapes.width, fields) * 1.15, 1)
    unit = 10.0 / span
    # the input is drawn at least 1.2 inches across, so that its receptive field shows
    input_unit = max(unit, 1.2 / max(shapes.width, shapes.height))
    left_width = max(shapes.width * input_unit, fields * unit)
    col_left = left_width + 0.6
    text_inches = 1.5
    top_band = max(fields * unit, shapes.height * input_unit + 0.6) + 0.8
    height_inches = 0.3 + top_band + filters * unit + 1.2 + text_inches
    width_inches = max(col_left + positions * unit + 0.5, col_left + 5.2, 9.5)
    figure = style.new_figure(width_inches, height_inches)
    axes = figure.add_axes((0, 0, 1, 1))
    axes.set_xlim(-0.25, width_inches - 0.25)
    axes.set_ylim(height_inches, 0)
    axes.set_axis_off()
    top = 0.75
    bold = dict(fontsize=10, fontweight="bold", va="bottom")
    axes.text(0, 0.1, "The matrix implementation by shape, every matrix to scale (one entry, one unit of length)",
              fontsize=11, fontweight="bold", va="top")

    def box(x, y, w, h, fill, edge=style.TEXT, linewidth=0.8):
        axes.add_patch(Rectangle((x, y), w, h, facecolor=fill, edgecolor=edge, linewidth=linewidth))

    i, j = divmod(column, shapes.out_width)
    box(0, top, shapes.width * input_unit, shapes.height * input_unit, style.CELL_FILL)
    box((j * shapes.stride - shapes.pad) * input_unit, top + (i * shapes.stride - shapes.pad) * input_unit,
        shapes.size * input_unit, shapes.size * input_unit, style.FIELD_FILL, style.FIELD, 1.5)
    scale_note = "" if input_unit == unit else "\n(at its own scale)"
    axes.text(0, top + shapes.height * input_unit + 0.08,
              f"input {shapes.width}×{shapes.height}×{shapes.depth}\none {shapes.size}×{shapes.size}×{shapes.depth}\n"
              f"receptive field{scale_note}", fontsize=10, fontweight="bold", va="top", color=style.FIELD)
    box(col_left, top, positions * unit, fields * unit, style.CELL_FILL)
    box(col_left + column * unit, top, max(unit, 0.03), fields * unit, style.FIELD, style.FIELD, 1.0)
    axes.text(col_left, top - 0.08, f"X_col [{fields} × {positions:,}]: column {column} is that field, stretched",
              **bold)
    row_top = top + top_band
    w_left = col_left - 0.3 - fields * unit
    box(w_left, row_top, fields * unit, filters * unit, style.CELL_FILL)
    box(w_left, row_top + filter_ * unit, fields * unit, max(unit, 0.03), style.RESULT, style.RESULT, 1.0)
    axes.text(w_left + fields * unit, row_top - 0.08, f"W_row [{filters} × {fields}]\nrow {filter_}: one filter",
              ha="right", color=style.RESULT, **bold)
    box(col_left, row_top, positions * unit, filters * unit, style.CELL_FILL)
    box(col_left + column * unit, row_top + filter_ * unit, max(unit, 0.04), max(unit, 0.04), style.RESULT,
        style.RESULT, 1.5)
    axes.text(col_left, row_top + filters * unit + 0.08, f"W_row @ X_col + b [{filters} × {positions:,}] → reshape → "
                                                        f"{shapes.out_width}×{shapes.out_height}×{filters}",
              fontsize=10, fontweight="bold", va="top")
    axes.text(0.1, height_inches - text_inches + 0.1, "\n".join(wrapped(shapes)), fontsize=8.5,
              va="top", family=style.MONOSPACE, linespacing=1.45)
    return figure


def save_im2col_figure(figure, folder, name: str = "im2col") -> list[Path]:
    """Write `name`.png into folder."""
    return [style.save_figure(figure, Path(folder) / f"{name}.png")]
