"""Pooling forward and backward on one depth slice: who wins each window, where the gradient goes.

Forward, max pooling keeps the largest number of each F×F window and discards the rest
(with 2×2 windows and stride 2, three numbers in four: 75%). Average pooling keeps the mean.
Backward, the upstream gradient dout[i, j] of each output goes back only through what the
output depended on:
    max:  ∂out/∂x is 1 for the window's winner and 0 for the others, so the winner gets
          dout[i, j] and the other inputs get nothing;
    avg:  every input of the window gets dout[i, j]/(F·F).
Where windows overlap (stride < F) an input adds up what each of its windows sends it.

`pooling_demo` takes the numbers from volnet.ops.pool (pool2d_forward's output, and
pool2d_backward's dx and the winner it routes each window's gradient to); `PoolingPicture`
draws all windows at once (`show()`) or one at a time (`show(index)`, the frames of the
animation).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from volnet.layers.pool import AvgPool2D, MaxPool2D
from volnet.ops.pool import pool2d_backward, pool2d_forward
from volnet.viz import style
from volnet.viz.animation import save_animation

MAX_PADDED_SIZE = 16

# light tints that tell neighbouring windows apart (the cells of windows that do not overlap),
# and a strong colour of each for the frames of windows that do
WINDOW_TINTS = ["#f9d5d3", "#d4ecd5", "#fcefc7", "#d5e6f5", "#e8daf0", "#fde2cc", "#d3eeee", "#eeeeee"]
WINDOW_EDGES = ["#c0392b", "#27ae60", "#b7950b", "#2e86c1", "#8e44ad", "#d35400", "#148f77", "#616a6b"]


@dataclass(frozen=True)
class PoolingWindow:
    """One output of pooling and its window.

    Attributes:
        row, column: (i, j), the output position.
        top, left: the window's top-left corner in the padded slice (i·S, j·S).
        values: (F, F), the numbers in the window (−∞ for max pooling's padding).
        winner: (row, column) of the window's maximum in the padded slice: where
            pool2d_backward sends this output's gradient; None for average pooling.
        value: out[i, j]. gradient: dout[i, j], the upstream gradient.
    """

    row: int
    column: int
    top: int
    left: int
    values: np.ndarray
    winner: tuple[int, int] | None
    value: float
    gradient: float

    def field(self, size: int) -> tuple[slice, slice]:
        """The window's rows and columns in the padded slice."""
        return slice(self.top, self.top + size), slice(self.left, self.left + size)

    def expression(self, mode: str) -> str:
        """The window's forward and backward, written out."""
        size = self.values.shape[0]
        terms = ", ".join(style.number_text(v) for v in self.values.ravel())
        where = (f"window ({self.row}, {self.column}): rows {self.top}–{self.top + size - 1}, "
                 f"columns {self.left}–{self.left + size - 1}")
        value, gradient = style.number_text(self.value), style.number_text(self.gradient)
        if mode == "max":
            losers = self.values.size - 1
            return (f"{where}\nforward:  max({terms}) = {value}  → out[{self.row}, {self.column}]; "
                    f"the other {losers} {'numbers are' if losers != 1 else 'number is'} discarded\n"
                    f"backward: dout[{self.row}, {self.column}] = {gradient} goes to the winner only, "
                    f"at row {self.winner[0]}, column {self.winner[1]}; the others get 0")
        share = style.number_text(self.gradient / self.values.size)
        summands = " + ".join(style.signed_term(v) for v in self.values.ravel())
        return (f"{where}\nforward:  ({summands})/{self.values.size}"
                f" = {value}  → out[{self.row}, {self.column}]\n"
                f"backward: dout[{self.row}, {self.column}] = {gradient} is shared: each of the "
                f"{self.values.size} inputs gets {gradient}/{self.values.size} = {share}")


@dataclass(frozen=True)
class PoolingDemo:
    """Pooling of one depth slice, forward and backward, with every window.

    Attributes:
        x: (H, W) the slice. padded: (H + 2P, W + 2P), padded with −∞ (max) or 0 (avg).
        size, stride, pad, mode: F, S, P and "max" or "avg".
        out: (OH, OW) from pool2d_forward. dout: (OH, OW) the upstream gradient.
        dx: (H, W) from pool2d_backward.
        windows: one PoolingWindow per output position, in row-major order.
    """

    x: np.ndarray
    padded: np.ndarray
    size: int
    stride: int
    pad: int
    mode: str
    out: np.ndarray
    dout: np.ndarray
    dx: np.ndarray
    windows: list

    @property
    def overlapping(self) -> bool:
        return self.stride < self.size

    def discarded_fraction(self) -> float:
        """The share of the inputs that reach no output (max pooling's losers)."""
        if self.mode == "avg":
            return 0.0
        winners = {window.winner for window in self.windows}
        return 1 - len(winners) / self.x.size

    def shared_winners(self) -> dict[tuple[int, int], int]:
        """The inputs (row, column in the padded slice) that win more than one window, with how many."""
        counts: dict = {}
        for window in self.windows:
            if window.winner is not None:
                counts[window.winner] = counts.get(window.winner, 0) + 1
        return {where: count for where, count in counts.items() if count > 1}

    def partial_gradient(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """dx after windows 0…index have sent their gradient back, told as the pictures tell
        it: to the winner only (max) or shared evenly (avg). After the last window it equals
        pool2d_backward's dx.

        Returns:
            dx so far (H, W), and which inputs have received something (H, W) bool.
        """
        gradient = np.zeros(self.padded.shape)
        received = np.zeros(self.padded.shape, dtype=bool)
        for window in self.windows[:index + 1]:
            where = window.winner if self.mode == "max" else window.field(self.size)
            gradient[where] += window.gradient / (1 if self.mode == "max" else self.size * self.size)
            received[where] = True
        inside = (slice(self.pad, self.pad + self.x.shape[0]), slice(self.pad, self.pad + self.x.shape[1]))
        return gradient[inside], received[inside]

    def summary(self) -> str:
        height, width = self.x.shape
        out_height, out_width = self.out.shape
        name = "max" if self.mode == "max" else "average"
        text = (f"{name} pooling {self.size}×{self.size}, stride {self.stride}, pad {self.pad}: "
                f"{width}×{height} → {out_width}×{out_height}   "
                f"(OW = (W − F + 2P)/S + 1 = ({width} − {self.size} + 2·{self.pad})/{self.stride} + 1 "
                f"= {out_width})")
        if self.mode == "max":
            text += f"\n{self.discarded_fraction():.0%} of the inputs are discarded; only the winners get a gradient."
        else:
            text += f"\nEvery input counts 1/{self.size * self.size}; every input gets that share of the gradient."
        return text


def check_hyperparameters(width: int, height: int, size: int, stride: int, pad: int, mode: str):
    """Raise the library's own error if the window does not fit, and a clear one if the
    picture would have too many numbers to read."""
    if mode not in ("max", "avg"):
        raise ValueError(f"pooling mode must be 'max' or 'avg', got {mode!r}")
    for name, value in (("width", width), ("height", height), ("size", size), ("stride", stride)):
        if value < 1:
            raise ValueError(f"{name} must be at least 1, got {value}")
    layer = MaxPool2D(size, stride, pad) if mode == "max" else AvgPool2D(size, stride, pad)
    layer.output_shape((1, height, width))
    if 2 * pad > size:
        raise ValueError(f"pooling pad must be at most half the window, or a window could see only padding; "
                         f"got pad={pad} for size={size}. Use pad ≤ {size // 2}.")
    for name, value in (("width + 2·pad", width + 2 * pad), ("height + 2·pad", height + 2 * pad)):
        if value > MAX_PADDED_SIZE:
            raise ValueError(f"the pooling picture writes out every number, so it keeps {name} ≤ {MAX_PADDED_SIZE}; "
                             f"got {value}. Choose a smaller slice.")


def random_pooling_inputs(width=4, height=4, size=2, stride=2, pad=0, seed=0):
    """A slice of distinct whole numbers (so every window has one clear winner) and an
    upstream gradient of small whole numbers that fits the output.

    When windows overlap (stride < size), the largest number is moved to an input that two
    windows share (or else the most), so that it wins both and its gradients visibly add up.

    Returns:
        x (H, W) and dout (OH, OW), float64.
    """
    check_hyperparameters(width, height, size, stride, pad, "max")
    rng = np.random.default_rng(seed)
    x = rng.permutation(max(20, width * height))[:width * height].reshape(height, width).astype(np.float64)
    out_height = (height - size + 2 * pad) // stride + 1
    out_width = (width - size + 2 * pad) // stride + 1
    if stride < size:
        windows = np.zeros((height + 2 * pad, width + 2 * pad), dtype=int)
        for i, j in np.ndindex(out_height, out_width):
            windows[i * stride:i * stride + size, j * stride:j * stride + size] += 1
        inside = windows[pad:pad + height, pad:pad + width]
        # an input two windows share: it wins both, while the other windows keep winners of their own
        shared = tuple(np.argwhere(inside == 2)[0]) if (inside == 2).any() else np.unravel_index(np.argmax(inside),
                                                                                                  inside.shape)
        largest = np.unravel_index(np.argmax(x), x.shape)
        x[shared], x[largest] = x[largest], x[shared]
    dout = rng.integers(1, 10, size=(out_height, out_width)).astype(np.float64)
    return x, dout


def pooling_demo(x, dout, size: int = 2, stride: int = 2, pad: int = 0, mode: str = "max") -> PoolingDemo:
    """Pool one slice with volnet's pool2d_forward, send dout back with pool2d_backward.

    Args:
        x: (H, W), one depth slice. dout: (OH, OW), the upstream gradient.
        size: F. stride: S. pad: P. mode: "max" or "avg".

    Raises:
        ValueError: the window does not fit (the same message as MaxPool2D/AvgPool2D give),
            dout has the wrong shape, or the picture would be too large.
    """
    x, dout = np.asarray(x, dtype=np.float64), np.asarray(dout, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError(f"pooling_demo wants one depth slice (H, W), got shape {x.shape}")
    check_hyperparameters(x.shape[1], x.shape[0], size, stride, pad, mode)
    out, cache = pool2d_forward(x[None, None], size, stride, pad, mode)
    if dout.shape != out.shape[2:]:
        raise ValueError(f"dout must have the output's shape {out.shape[2:]}, got {dout.shape}")
    dx = pool2d_backward(dout[None, None], cache)[0, 0]
    padded = np.pad(x, pad, constant_values=-np.inf if mode == "max" else 0.0)
    windows = []
    for i, j in np.ndindex(*out.shape[2:]):
        top, left = i * stride, j * stride
        winner = None
        if mode == "max":
            # the winner is where volnet's own backward sends a gradient of 1 from this output alone
            one_hot = np.zeros(out.shape)
            one_hot[0, 0, i, j] = 1
            row, column = np.argwhere(pool2d_backward(one_hot, cache)[0, 0])[0]
            winner = (int(row) + pad, int(column) + pad)
        windows.append(PoolingWindow(i, j, top, left, padded[top:top + size, left:left + size].copy(), winner,
                                     float(out[0, 0, i, j]), float(dout[i, j])))
    return PoolingDemo(x, padded, size, stride, pad, mode, out[0, 0], dout, dx, windows)


class PoolingPicture:
    """Forward on top (the slice → the output), backward below (dout → dx), columns aligned.

    `show()` draws every window at once, each in its own tint when they do not overlap;
    `show(index)` draws the windows up to `index`, the last one highlighted.
    """

    def __init__(self, demo: PoolingDemo):
        self.demo = demo
        # one font size for all four grids, and cells wide enough for the longest number
        characters = style.widest(demo.padded, demo.out, demo.dout, demo.dx)
        self.cell_inches = max(0.5, 0.17 * characters)
        padded_height, padded_width = demo.padded.shape
        out_height, out_width = demo.out.shape
        self.arrow_width = 5.5
        out_left = padded_width + self.arrow_width
        width = out_left + max(out_width, 3) + 0.5
        top = 1.2
        backward_top = top + padded_height + 2.0
        height = backward_top + padded_height + 0.3
        header_inches, footer_inches = 0.75, 0.85 + (0.25 if demo.overlapping else 0.0)
        figure_height = header_inches + height * self.cell_inches + footer_inches
        figure_width = max(width * self.cell_inches + 0.3, 9.0)
        self.figure = style.new_figure(figure_width, figure_height, dpi=style.ANIMATION_DPI)
        axes = style.grid_axes(self.figure, width, height, rect=(
            0.03, footer_inches / figure_height, width * self.cell_inches / figure_width,
            height * self.cell_inches / figure_height))
        self.axes = axes
        self.figure.text(0.03, 1 - 0.12 / figure_height, demo.summary(), fontsize=10.5, va="top", linespacing=1.5)
        title = dict(fontsize=11.5, fontweight="bold", va="bottom")
        padding_note = f", padded with {'−∞' if demo.mode == 'max' else '0'}" if demo.pad else ""
        axes.text(0, top - 0.25, f"forward: input slice x{padding_note}", **title)
        axes.text(out_left, top - 0.25, "output", **title)
        axes.text(0, backward_top - 0.25, "backward: dx", **title)
        axes.text(out_left, backward_top - 0.25, "upstream gradient dout", **title)
        fontsize = style.cell_fontsize(axes, characters)
        self.input = style.NumberGrid(axes, demo.padded, 0, top, padding=demo.pad, fontsize=fontsize)
        self.output = style.NumberGrid(axes, demo.out, out_left, top, fontsize=fontsize)
        self.dx = style.NumberGrid(axes, np.pad(demo.dx, demo.pad), 0, backward_top, padding=demo.pad,
                                   fontsize=fontsize)
        self.dout = style.NumberGrid(axes, demo.dout, out_left, backward_top, fontsize=fontsize)
        operation = f"{'max' if demo.mode == 'max' else 'avg'} {demo.size}×{demo.size}\nstride {demo.stride}"
        route = "to the winner\nonly" if demo.mode == "max" else f"shared\n÷ {demo.size * demo.size}"
        for y, text, start, end, colour in (
                (top + out_height / 2, operation, padded_width + 0.4, out_left - 0.4, style.FIELD),
                (backward_top + out_height / 2, route, out_left - 0.4, padded_width + 0.4, style.GRADIENT)):
            axes.annotate("", xy=(end, y), xytext=(start, y),
                          arrowprops=dict(arrowstyle="-|>", color=colour, linewidth=2, mutation_scale=18))
            axes.text((start + end) / 2, y - 0.25, text, ha="center", va="bottom", fontsize=10, color=colour)
        self.window_outline = self.input.outline(axes, 0, 0, demo.size, demo.size, style.FIELD)
        # overlapping windows cannot each fill their cells: each gets a frame of its own colour, a
        # little inset so that frames on the same line stay apart, on the input and on dx alike
        self.window_frames = []
        for number, window in enumerate(demo.windows if demo.overlapping else []):
            inset = 0.07 * (1 + number % 4)
            for grid in (self.input, self.dx):
                frame = grid.outline(axes, window.top, window.left, demo.size, demo.size,
                                     WINDOW_EDGES[number % len(WINDOW_EDGES)], linewidth=2.0)
                frame.set_bounds(grid.x0 + window.left + inset, grid.y0 + window.top + inset, demo.size - 2 * inset,
                                 demo.size - 2 * inset)
                self.window_frames.append(frame)
        self.winner_outlines = [self.input.outline(axes, 0, 0, 1, 1, style.RESULT, linewidth=2.2)
                                for _ in demo.windows]
        self.caption = self.figure.text(0.03, (footer_inches - 0.12) / figure_height, "", fontsize=10, va="top",
                                        family=style.MONOSPACE, linespacing=1.4)
        if demo.mode == "max":
            self.legend = ("orange, framed: each window's maximum, the only number that goes on and the only one\n"
                           "that gets a gradient back; grey: discarded; purple: gradient")
        else:
            self.legend = (f"every number of a window counts 1/{demo.size * demo.size} of the output, so every number "
                           f"gets 1/{demo.size * demo.size} of its gradient;\npurple: gradient")
        if demo.overlapping:
            self.legend += ("\nwindows overlap (stride < size), each framed in its own colour, here and in dx:\n"
                            "an input that wins several windows adds up their gradients")
            for (row, column), count in sorted(demo.shared_winners().items()):
                gradients = [w.gradient for w in demo.windows if w.winner == (row, column)]
                self.legend += (f"; x[{row - demo.pad}, {column - demo.pad}] wins {count}: dx = "
                                + " + ".join(style.number_text(g) for g in gradients)
                                + f" = {style.number_text(sum(gradients))}")

    def show(self, index: int | None = None):
        """Draw all windows (index None) or windows 0…index with window `index` highlighted."""
        demo = self.demo
        windows = demo.windows if index is None else demo.windows[:index + 1]
        for grid in (self.input, self.output, self.dx, self.dout):
            grid.reset()
        tinted = index is None
        for frame in self.window_frames:
            frame.set_visible(tinted)
        done = np.zeros(demo.out.shape, dtype=bool)
        for number, window in enumerate(windows):
            rows, columns = window.field(demo.size)
            if tinted:
                fill = WINDOW_TINTS[number % len(WINDOW_TINTS)]
            else:
                fill = style.FIELD_FILL if number == index else None
            if fill:
                if not (tinted and demo.overlapping):
                    self.input.paint(rows, columns, fill=fill)
                self.output.paint(window.row, window.column, fill=fill)
                self.dout.paint(window.row, window.column, fill=fill)
            if demo.mode == "max":
                self.input.paint(rows, columns, text=style.DISCARDED)
            self.output.paint(window.row, window.column, text=style.RESULT, bold=True)
            self.dout.paint(window.row, window.column, text=style.GRADIENT, bold=True)
            done[window.row, window.column] = True
        for number, (outline, window) in enumerate(zip(self.winner_outlines, demo.windows)):
            outline.set_visible(demo.mode == "max" and number < len(windows))
            if outline.get_visible():
                outline.set_xy((self.input.x0 + window.winner[1], self.input.y0 + window.winner[0]))
                self.input.paint(*window.winner, text=style.RESULT, bold=True)
        self.window_outline.set_visible(index is not None)
        if index is not None:
            self.window_outline.set_xy((self.input.x0 + windows[-1].left, self.input.y0 + windows[-1].top))
        self.output.show_numbers(done)
        gradient, received = demo.partial_gradient(len(windows) - 1)
        self.dx.set_values(np.pad(gradient, demo.pad))
        received = np.pad(received, demo.pad)
        if tinted and not demo.overlapping:
            # the backward grid in the same tints: which window each gradient came back through
            for number, window in enumerate(windows):
                self.dx.paint(*window.field(demo.size), fill=WINDOW_TINTS[number % len(WINDOW_TINTS)])
        for (row, column), got in np.ndenumerate(received):
            if got:
                self.dx.paint(row, column, fill=None if tinted and not demo.overlapping else style.GRADIENT_FILL,
                              text=style.GRADIENT, bold=True)
            elif not self.dx.is_padding[row, column]:
                self.dx.paint(row, column, text=style.DISCARDED)
        self.dx.show_numbers(~self.dx.is_padding)
        self.caption.set_text(self.legend if index is None else windows[-1].expression(demo.mode))
        return self.figure

    def frames(self) -> list[np.ndarray]:
        """One frame per window, as (H, W, 3) uint8 arrays."""
        return [style.figure_to_array(self.show(index)) for index in range(len(self.demo.windows))]


def save_pooling_pictures(demo: PoolingDemo, folder, name: str = "pool", seconds_per_frame: float = 1.5) -> list[Path]:
    """Write `name`.png (every window at once), `name`.gif and `name`.html (one window a frame)."""
    picture = PoolingPicture(demo)
    still = style.save_figure(picture.show(), Path(folder) / f"{name}.png")
    frames = picture.frames()
    captions = [window.expression(demo.mode) for window in demo.windows]
    title = "Pooling forward and backward"
    return [still, *save_animation(frames, captions, folder, name, title, demo.summary(), seconds_per_frame)]
