"""Convolution in action: the notes' demo, one frame per output number, from volnet's own conv.

Each filter slides over the padded input volume; at every position the receptive field
(a F×F×D block) is multiplied elementwise with the filter, the products are summed, the
bias is added, and the result is one number of the output volume:

    out[k, i, j] = Σ_{d,a,c} x_pad[d, i·S + a, j·S + c] · w[k, d, a, c] + b[k]

The output volume is OW×OH×K with OW = (W − F + 2P)/S + 1 (likewise OH), one depth slice
(activation map) per filter. `convolution_demo` builds the frame data (a list of
ConvolutionStep, one per output position (k, i, j), in that order) and checks every sum
against volnet.ops.conv.conv2d_forward; `ConvolutionPicture` draws a frame;
`save_convolution_animation` writes the GIF and the HTML page.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from volnet.layers.base import format_shape
from volnet.layers.conv import Conv2D
from volnet.ops.conv import conv2d_forward
from volnet.viz import style
from volnet.viz.animation import save_animation
from volnet.viz.images import load_image

# beyond these a frame has too many numbers to read
MAX_PADDED_SIZE = 20
MAX_DEPTH = 4
MAX_FILTERS = 4
MAX_FILTER_SIZE = 5
BRIGHTNESS_LEVELS = 9  # a picture's pixels become whole numbers 0 (black) … 9 (white)


@dataclass(frozen=True)
class ConvolutionStep:
    """One output number being computed: out[k, i, j] = Σ products + b[k].

    Attributes:
        filter, row, column: (k, i, j), the output position.
        top, left: the receptive field's top-left corner in the padded input (i·S, j·S);
            it spans rows top … top + F − 1 and columns left … left + F − 1 of every depth slice.
        products: (D, F, F), the receptive field times filter k, elementwise.
        bias: b[k].
        value: out[k, i, j] as volnet's conv2d_forward computed it.
    """

    filter: int
    row: int
    column: int
    top: int
    left: int
    products: np.ndarray
    bias: float
    value: float

    @property
    def total(self) -> float:
        """The products summed plus the bias: what `value` must equal."""
        return float(self.products.sum() + self.bias)

    def expression(self) -> str:
        """The sum written out, one line per depth slice, then the bias, e.g.

            depth 0:  0 + 2 + (−1) + … = 1
            sum 1 + b0 (1) = 2  → out[0, 0, 0]
        """
        bottom, right = self.top + self.products.shape[1] - 1, self.left + self.products.shape[2] - 1
        lines = [f"filter w{self.filter} · receptive field at rows {self.top}–{bottom}, "
                 f"columns {self.left}–{right} of the padded input:"]
        slice_sums = []
        for depth, products in enumerate(self.products):
            terms = [style.signed_term(p) for p in products.ravel()]
            # nine terms a line keeps a 5×5 filter readable
            chunks = [" + ".join(terms[start:start + 9]) for start in range(0, len(terms), 9)]
            total = products.sum()
            slice_sums.append(total)
            lines.append(f"  depth {depth}:  " + " +\n            ".join(chunks) + f" = {style.number_text(total)}")
        sums = " + ".join(style.signed_term(s) for s in slice_sums)
        lines.append(f"  {sums} + b{self.filter} ({style.number_text(self.bias)}) = {style.number_text(self.value)}"
                     f"   → out[{self.filter}, {self.row}, {self.column}]")
        return "\n".join(lines)


@dataclass(frozen=True)
class ConvolutionDemo:
    """A convolution of one input volume, with every step that makes its output.

    Attributes:
        x: (D, H, W) input volume. weights: (K, D, F, F). bias: (K,).
        stride, pad: S and P (the same along height and width).
        padded: (D, H + 2P, W + 2P), the input with its zero padding.
        out: (K, OH, OW) from volnet.ops.conv.conv2d_forward.
        steps: one ConvolutionStep per output position, ordered by (k, i, j).
    """

    x: np.ndarray
    weights: np.ndarray
    bias: np.ndarray
    stride: int
    pad: int
    padded: np.ndarray
    out: np.ndarray
    steps: list

    @property
    def filter_size(self) -> int:
        return self.weights.shape[2]

    def formula(self) -> str:
        """The output-size rule with the numbers filled in, for width and (if different) height."""
        depth, height, width = self.x.shape
        size, stride, pad = self.filter_size, self.stride, self.pad
        out_depth, out_height, out_width = self.out.shape
        lines = [f"OW = (W − F + 2P)/S + 1 = ({width} − {size} + 2·{pad})/{stride} + 1 = {out_width}"]
        if height != width:
            lines.append(f"OH = (H − F + 2P)/S + 1 = ({height} − {size} + 2·{pad})/{stride} + 1 = {out_height}")
        filters = f"{out_depth} filter{'s' if out_depth > 1 else ''}"
        lines.append(f"{format_shape(self.x.shape)} input, {filters} of {size}×{size}×{depth}, stride {stride}, "
                     f"pad {pad}  →  {format_shape(self.out.shape)} output")
        return "\n".join(lines)

    # what a picture of this demo says it is; a demo of another convolution overrides these
    TITLE = "Convolution in action"

    def description(self) -> str:
        """The animation page's text: the formula and what each frame computes."""
        return (self.formula().replace("\n", ";  ") + ". Each frame computes one number of the output volume: "
                "the receptive field (blue) times the filter, elementwise, summed, plus the bias.")

    def input_title(self) -> str:
        """The title over the input grids: what they hold and their shape."""
        return f"Input volume, pad {self.pad}\n{format_shape(self.padded.shape)}"

    def padding_cells(self):
        """Which cells of `padded` are added zeros, drawn grey: the P outer rows and columns
        (style.NumberGrid's `padding`)."""
        return self.pad


def check_at_least_one(**values):
    """Raise "name must be at least 1, got v" for the first of the picture's settings below 1."""
    for name, value in values.items():
        if value < 1:
            raise ValueError(f"{name} must be at least 1, got {value}")


def check_readable(picture: str, limits, advice: str):
    """Raise a clear error if the picture would have too many numbers to read: limits are
    (what, value, largest drawn) triples."""
    for name, value, limit in limits:
        if value > limit:
            raise ValueError(f"the {picture} writes out every number, so it keeps {name} ≤ {limit}; got {value}. "
                             f"{advice}")


def check_hyperparameters(width: int, height: int, depth: int, filters: int, size: int, stride: int, pad: int):
    """Raise the library's own error if a Conv2D with these hyperparameters does not fit the
    input, and a clear one if the picture would have too many numbers to read.

    Returns:
        The output volume (K, OH, OW).
    """
    check_at_least_one(width=width, height=height, depth=depth, filters=filters, size=size, stride=stride)
    if pad < 0:
        raise ValueError(f"pad must be 0 or more, got {pad}")
    shape = Conv2D(filters, size, stride=stride, pad=pad).output_shape((depth, height, width))
    limits = (("width + 2·pad", width + 2 * pad, MAX_PADDED_SIZE),
              ("height + 2·pad", height + 2 * pad, MAX_PADDED_SIZE), ("depth", depth, MAX_DEPTH),
              ("filters", filters, MAX_FILTERS), ("size", size, MAX_FILTER_SIZE))
    check_readable("convolution picture", limits, "Choose a smaller input, filter or padding.")
    return shape


def random_demo_volume(width=5, height=5, depth=3, filters=2, size=3, seed=0):
    """Small integers like the notes' demo, so that every sum can be done in one's head.

    Returns:
        x (D, H, W) with entries in {0, 1, 2}; weights (K, D, F, F) in {−1, 0, 1};
        bias (K,) in {0, 1}; all float64.
    """
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 3, size=(depth, height, width)).astype(np.float64)
    weights = rng.integers(-1, 2, size=(filters, depth, size, size)).astype(np.float64)
    bias = rng.integers(0, 2, size=filters).astype(np.float64)
    return x, weights, bias


def image_demo_volume(path, width=9, height=9, filters=2, size=3, seed=0):
    """A real picture as a demo input: grayscale, resized to width×height, brightness written
    as a whole number 0 (black) … 9 (white) so the sums stay readable; random demo filters.

    Returns:
        x (1, H, W), weights (K, 1, F, F), bias (K,), all float64 (as random_demo_volume).
    """
    pixels = load_image(path, depth=1, width=width, height=height)
    x = np.round(pixels.astype(np.float64) / 255 * BRIGHTNESS_LEVELS)
    _, weights, bias = random_demo_volume(width, height, 1, filters, size, seed)
    return x, weights, bias


def convolution_demo(x, weights, bias, stride: int = 1, pad: int = 0) -> ConvolutionDemo:
    """Convolve one volume with volnet's conv2d_forward and record every step.

    Args:
        x: (D, H, W) input volume. weights: (K, D, F, F) filters. bias: (K,).
        stride: S. pad: P zeros on each side.

    Returns:
        A ConvolutionDemo whose steps (one per output position (k, i, j)) hold the
        receptive field's coordinates, the elementwise products and the output value.

    Raises:
        ValueError: the hyperparameters do not fit (the same message as Conv2D gives), or
            the picture would be too large to read.
    """
    x, weights, bias = (np.asarray(a, dtype=np.float64) for a in (x, weights, bias))
    if x.ndim != 3 or weights.ndim != 4 or weights.shape[1] != x.shape[0] or bias.shape != weights.shape[:1]:
        raise ValueError(f"convolution_demo wants x (D, H, W), weights (K, D, F, F) and bias (K,); "
                         f"got {x.shape}, {weights.shape} and {bias.shape}")
    if weights.shape[2] != weights.shape[3]:
        raise ValueError(f"convolution_demo draws square F×F filters, got {weights.shape[2]}×{weights.shape[3]}")
    depth, height, width = x.shape
    filters, _, size, _ = weights.shape
    check_hyperparameters(width, height, depth, filters, size, stride, pad)
    out, _ = conv2d_forward(x[None], weights, bias, stride=stride, pad=pad)
    out = out[0]
    padded = np.pad(x, ((0, 0), (pad, pad), (pad, pad)))
    steps = []
    for k, i, j in np.ndindex(*out.shape):
        top, left = i * stride, j * stride
        field = padded[:, top:top + size, left:left + size]
        steps.append(ConvolutionStep(k, i, j, top, left, field * weights[k], float(bias[k]), float(out[k, i, j])))
    return ConvolutionDemo(x, weights, bias, stride, pad, padded, out, steps)


class ConvolutionPicture:
    """The demo's layout: the padded input volume (one grid per depth slice), the filters and
    biases beside it, the output volume on the right, the output-size formula above and the
    written-out sum below. `show(step)` moves the receptive field and fills the output in.

    Args:
        demo: a ConvolutionDemo.
        shaded: fill the input cells with their grey level, 0 black … BRIGHTNESS_LEVELS white
            (for a picture made by image_demo_volume).
    """

    CELL_INCHES = 0.36
    GAP = 1.6  # cells between grids

    def __init__(self, demo: ConvolutionDemo, shaded: bool = False):
        self.demo = demo
        depth, padded_height, padded_width = demo.padded.shape
        filters, _, size, _ = demo.weights.shape
        out_height, out_width = demo.out.shape[1:]
        gap = self.GAP
        top = 2.6  # room for the column titles
        slice_height = max(padded_height, size + 2.5) + gap
        filter_left = [padded_width + gap * 1.5 + k * (size + gap) for k in range(filters)]
        out_left = filter_left[-1] + size + gap * 1.5
        width = out_left + max(out_width, 4) + 0.5
        bias_top = top + (depth - 1) * slice_height + size + 1.4
        height = max(top + (depth - 1) * slice_height + padded_height, bias_top + 1,
                     top + filters * (out_height + gap) - gap) + 0.3
        caption_lines = demo.steps[0].expression().count("\n") + 1
        header_inches, footer_inches = 0.75, 0.3 + 0.2 * caption_lines
        grid_inches = height * self.CELL_INCHES
        figure_height = header_inches + grid_inches + footer_inches
        figure_width = max(width * self.CELL_INCHES + 0.4, 8.5)
        self.figure = style.new_figure(figure_width, figure_height, dpi=style.ANIMATION_DPI)
        self.axes = style.grid_axes(self.figure, width, height, rect=(
            0.2 / figure_width, footer_inches / figure_height, width * self.CELL_INCHES / figure_width,
            grid_inches / figure_height))
        shade_max = BRIGHTNESS_LEVELS if shaded else None
        axes, label = self.axes, dict(fontsize=10, color=style.TEXT, va="bottom")
        self.figure.text(0.2 / figure_width, 1 - 0.1 / figure_height, demo.formula(), fontsize=10.5, va="top",
                         family=style.MONOSPACE)
        title = dict(fontsize=11, fontweight="bold", va="bottom", linespacing=1.3)
        axes.text(0, top - 0.9, demo.input_title(), **title)
        self.inputs = []
        for d in range(depth):
            y = top + d * slice_height
            axes.text(0, y - 0.15, f"x, depth slice {d}", **label)
            self.inputs.append(style.NumberGrid(axes, demo.padded[d], 0, y, padding=demo.padding_cells(),
                                                shade_max=shade_max))
        self.filters, self.biases = [], []
        for k in range(filters):
            x0 = filter_left[k]
            axes.text(x0, top - 0.9, f"Filter w{k}\n{size}×{size}×{depth}", **title)
            grids = []
            for d in range(depth):
                y = top + d * slice_height
                axes.text(x0, y - 0.15, f"w{k}, slice {d}", **label)
                grids.append(style.NumberGrid(axes, demo.weights[k, d], x0, y))
            self.filters.append(grids)
            axes.text(x0, bias_top - 0.15, f"bias b{k}", **label)
            self.biases.append(style.NumberGrid(axes, demo.bias[k:k + 1, None], x0, bias_top))
        axes.text(out_left, top - 0.9, f"Output volume\n{format_shape(demo.out.shape)}", **title)
        self.outputs = []
        for k in range(filters):
            y = top + k * (out_height + gap)
            axes.text(out_left, y - 0.15, f"out, slice {k}", **label)
            self.outputs.append(style.NumberGrid(axes, demo.out[k], out_left, y))
        self.field_outlines = [grid.outline(axes, 0, 0, size, size, style.FIELD) for grid in self.inputs]
        self.filter_outlines = [grid.outline(axes, 0, 0, size, size, style.FIELD) for grid in self.filters[0]]
        self.output_outline = self.outputs[0].outline(axes, 0, 0, 1, 1, style.RESULT)
        self.caption = self.figure.text(0.2 / figure_width, (footer_inches - 0.15) / figure_height, "", fontsize=10,
                                        va="top", family=style.MONOSPACE)
        self.shaded = shaded

    def show(self, index: int):
        """Draw step `index`: its receptive field, its filter, its sum, and the outputs so far."""
        step = self.demo.steps[index]
        size = self.demo.filter_size
        for grid, outline in zip(self.inputs, self.field_outlines):
            grid.reset()
            if not self.shaded:
                grid.paint(slice(step.top, step.top + size), slice(step.left, step.left + size), fill=style.FIELD_FILL)
            outline.set_xy((grid.x0 + step.left, grid.y0 + step.top))
        for k, grids in enumerate(self.filters):
            for grid in grids + [self.biases[k]]:
                grid.reset()
                if k == step.filter:
                    grid.paint(slice(None), slice(None), fill=style.FIELD_FILL)
        for grid, outline in zip(self.filters[step.filter], self.filter_outlines):
            outline.set_xy((grid.x0, grid.y0))
        done = np.arange(len(self.demo.steps)) <= index
        for k, grid in enumerate(self.outputs):
            grid.reset()
            grid.show_numbers(done.reshape(self.demo.out.shape)[k])
        current = self.outputs[step.filter]
        current.paint(step.row, step.column, fill=style.RESULT_FILL, text=style.RESULT, bold=True)
        self.output_outline.set_xy((current.x0 + step.column, current.y0 + step.row))
        self.caption.set_text(step.expression())
        return self.figure

    def frames(self) -> list[np.ndarray]:
        """Every step rendered, as (H, W, 3) uint8 arrays."""
        return [style.figure_to_array(self.show(index)) for index in range(len(self.demo.steps))]


def save_convolution_animation(demo: ConvolutionDemo, folder, name: str = "conv", shaded: bool = False,
                               seconds_per_frame: float = 1.2) -> list[Path]:
    """Write `name`.gif and `name`.html (self-contained, with play/pause/step) into folder.

    Returns:
        The paths written.
    """
    picture = ConvolutionPicture(demo, shaded=shaded)
    frames = picture.frames()
    captions = [step.expression() for step in demo.steps]
    return save_animation(frames, captions, folder, name, demo.TITLE, demo.description(), seconds_per_frame)
