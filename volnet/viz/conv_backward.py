"""Backprop through a conv layer step by step: the "scatter" view, one output number at a time.

Forward, output (k, i, j) was one dot product: out[k, i, j] = Σ x_pad[:, field] · w[k] + b[k],
where the field is rows i·S … i·S + F − 1 and columns j·S … j·S + F − 1 of every depth slice.
Backward, each upstream gradient g = dout[k, i, j] goes back along the same connections:

    dx_pad[:, field] += g · w[k]        every depth slice d of the field gets g · w[k, d]
    dw[k]            += g · x_pad[:, field]
    db[k]            += g

Fields that overlap (stride < F) add up in dx; dx sums over all K filters (each filter sent
something back to the same input), while dw has one F×F slice per filter and input depth.
After the last output, dx (the padding cut off) equals the "gather" view — for each depth
slice d, the full convolution of dout[k] with the filter w[k, d] rotated by 180°, summed
over k (drawn by `volnet show backprop`) — and volnet.ops.conv.conv2d_backward.

`scatter_backward` computes every step and both views and checks them against volnet;
`ScatterPicture` draws a step; `save_scatter_animation` writes the GIF and the HTML player.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from volnet.layers.base import format_shape
from volnet.ops.conv import conv2d_backward, conv2d_forward
from volnet.viz import style
from volnet.viz.animation import save_animation
from volnet.viz.convolution import check_hyperparameters, random_demo_volume


@dataclass(frozen=True)
class ScatterStep:
    """The state after output (filter, row, column) has sent its gradient back.

    Attributes:
        filter, row, column: (k, i, j). top, left: the field's corner in the padded input.
        gradient: g = dout[k, i, j].
        dx_pad: (D, H + 2P, W + 2P), dx of the padded input so far.
        dw: (K, D, F, F) so far. db: (K,) so far.
    """

    filter: int
    row: int
    column: int
    top: int
    left: int
    gradient: float
    dx_pad: np.ndarray
    dw: np.ndarray
    db: np.ndarray

    def expression(self, size: int) -> str:
        g = style.number_text(self.gradient)
        rows, columns = f"{self.top}–{self.top + size - 1}", f"{self.left}–{self.left + size - 1}"
        k = self.filter
        return (f"dout[{k}, {self.row}, {self.column}] = {g} goes back along the connections of out[{k}, {self.row}, "
                f"{self.column}]:\n"
                f"  dx[:, rows {rows}, columns {columns}] += {g} · w{k}   (every depth slice d gets {g} · w{k}[d])\n"
                f"  dw{k} += {g} · x[:, rows {rows}, columns {columns}]   (that receptive field of x)\n"
                f"  db{k} += {g}")


@dataclass(frozen=True)
class ScatterDemo:
    """A conv layer's backward on one volume, scattered output by output, and both views of dx.

    Attributes:
        x: (D, H, W). weights: (K, D, F, F). bias: (K,). dout: (K, OH, OW). stride, pad: S, P.
        padded: (D, H + 2P, W + 2P).
        steps: one ScatterStep per output (k, i, j), in that order.
        gathered: (D, H, W), dx as full convolutions with the flipped filters, summed over k.
        dx, dw, db: what volnet.ops.conv.conv2d_backward returns.
    """

    x: np.ndarray
    weights: np.ndarray
    bias: np.ndarray
    dout: np.ndarray
    stride: int
    pad: int
    padded: np.ndarray
    steps: list
    gathered: np.ndarray
    dx: np.ndarray
    dw: np.ndarray
    db: np.ndarray

    @property
    def size(self) -> int:
        return self.weights.shape[2]

    def scattered_dx(self) -> np.ndarray:
        """dx after the last step, the padding cut off: (D, H, W)."""
        height, width = self.x.shape[1:]
        return self.steps[-1].dx_pad[:, self.pad:self.pad + height, self.pad:self.pad + width]

    def agreement(self) -> dict[str, bool]:
        """Does the scatter view's last step equal the gather view and conv2d_backward?"""
        last = self.steps[-1]
        return {"dx = gather view": bool(np.allclose(self.scattered_dx(), self.gathered)),
                "dx = conv2d_backward": bool(np.allclose(self.scattered_dx(), self.dx)),
                "dw = conv2d_backward": bool(np.allclose(last.dw, self.dw)),
                "db = conv2d_backward": bool(np.allclose(last.db, self.db))}


def _full_convolution(gradient, kernel, stride):
    """dout (OH, OW) spread by the stride, padded by F − 1, slid over by rot180(kernel): (H + 2P, W + 2P)."""
    size = kernel.shape[0]
    spread = np.zeros((stride * (gradient.shape[0] - 1) + 1, stride * (gradient.shape[1] - 1) + 1))
    spread[::stride, ::stride] = gradient
    full = np.pad(spread, size - 1)
    return conv2d_forward(full[None, None], kernel[::-1, ::-1][None, None].copy())[0][0, 0]


def scatter_backward(x, weights, bias, dout, stride: int = 1, pad: int = 0) -> ScatterDemo:
    """Run volnet's conv backward on one volume and redo it output by output (module doc).

    Args:
        x: (D, H, W). weights: (K, D, F, F). bias: (K,). dout: (K, OH, OW). stride: S. pad: P.

    Raises:
        ValueError: shapes that do not match, a filter that does not fit, or a picture too large to read.
    """
    x, weights, bias, dout = (np.asarray(a, dtype=np.float64) for a in (x, weights, bias, dout))
    if x.ndim != 3 or weights.ndim != 4 or weights.shape[1] != x.shape[0] or weights.shape[2] != weights.shape[3]:
        raise ValueError(f"scatter_backward wants x (D, H, W) and square filters (K, D, F, F); got {x.shape} and "
                         f"{weights.shape}")
    depth, height, width = x.shape
    filters, _, size, _ = weights.shape
    check_hyperparameters(width, height, depth, filters, size, stride, pad)
    out, cache = conv2d_forward(x[None], weights, bias, stride=stride, pad=pad)
    if dout.shape != out.shape[1:]:
        raise ValueError(f"dout must have the output's shape {out.shape[1:]}, got {dout.shape}")
    dx, dw, db = conv2d_backward(dout[None], cache)
    padded = np.pad(x, ((0, 0), (pad, pad), (pad, pad)))
    dx_pad, dw_sum, db_sum = np.zeros(padded.shape), np.zeros(weights.shape), np.zeros(filters)
    steps = []
    for k, i, j in np.ndindex(*dout.shape):
        top, left = i * stride, j * stride
        field = (slice(None), slice(top, top + size), slice(left, left + size))
        g = dout[k, i, j]
        dx_pad[field] += g * weights[k]
        dw_sum[k] += g * padded[field]
        db_sum[k] += g
        steps.append(ScatterStep(k, i, j, top, left, float(g), dx_pad.copy(), dw_sum.copy(), db_sum.copy()))
    inside = (slice(pad, pad + height), slice(pad, pad + width))
    gathered = np.array([sum(_full_convolution(dout[k], weights[k, d], stride) for k in range(filters))[inside]
                         for d in range(depth)])
    return ScatterDemo(x, weights, bias, dout, stride, pad, padded, steps, gathered, dx[0], dw, db)


def random_scatter_inputs(width=4, height=4, depth=2, filters=2, size=2, stride=1, pad=0, seed=0):
    """The demo's small whole numbers, and a dout of −2 … 2 that fits the output.

    Returns:
        x (D, H, W), weights (K, D, F, F), bias (K,), dout (K, OH, OW).
    """
    out_depth, out_height, out_width = check_hyperparameters(width, height, depth, filters, size, stride, pad)
    x, weights, bias = random_demo_volume(width, height, depth, filters, size, seed)
    dout = np.random.default_rng(seed + 1).integers(-2, 3, size=(out_depth, out_height, out_width)).astype(np.float64)
    return x, weights, bias, dout


class ScatterPicture:
    """Forward's numbers on the left (x, the filters w, dout), the gradients on the right
    (dx, dw, db), filling in as each output sends its gradient back; `show(index)` draws
    step `index`, `show(len(steps))` the last state beside the gather view and volnet's answer."""

    CELL_INCHES = 0.36
    GAP = 1.5

    def __init__(self, demo: ScatterDemo):
        self.demo = demo
        depth, padded_height, padded_width = demo.padded.shape
        filters, _, size, _ = demo.weights.shape
        out_height, out_width = demo.dout.shape[1:]
        gap = self.GAP
        top = 2.4
        slice_step = padded_height + gap
        filter_step = size + gap
        lefts, x = {}, 0.0
        for name, span in (("x", padded_width), ("w", depth * (size + 0.5) - 0.5), ("dout", out_width),
                           ("dx", padded_width), ("dw", depth * (size + 0.5) - 0.5), ("db", 1),
                           ("gather", demo.x.shape[2])):
            lefts[name] = x
            x += max(span, 3.2) + gap * (2 if name in ("dout", "db") else 1)
        width = x
        height = top + max(depth * slice_step, filters * max(filter_step, out_height + gap)) + 0.3
        caption_lines = 5
        footer_inches = 0.25 + 0.2 * caption_lines
        figure_width = width * self.CELL_INCHES + 0.4
        figure_height = 0.5 + height * self.CELL_INCHES + footer_inches
        self.figure = style.new_figure(figure_width, figure_height, dpi=style.ANIMATION_DPI)
        axes = style.grid_axes(self.figure, width, height, rect=(
            0.2 / figure_width, footer_inches / figure_height, width * self.CELL_INCHES / figure_width,
            height * self.CELL_INCHES / figure_height))
        self.axes = axes
        final = demo.steps[-1]
        fontsize = style.cell_fontsize(axes, style.widest(demo.padded, demo.weights, demo.dout, final.dx_pad, final.dw,
                                                          final.db, demo.gathered))
        title = dict(fontsize=10.5, fontweight="bold", va="bottom", linespacing=1.25)
        label = dict(fontsize=8.5, va="bottom")
        self.figure.text(0.2 / figure_width, 1 - 0.08 / figure_height,
                         f"Conv backward, scattered: each dout[k, i, j] goes back along the connections of out[k, i, j]"
                         f" — {format_shape(demo.x.shape)} input, {filters} filters {size}×{size}, stride "
                         f"{demo.stride}, pad {demo.pad}", fontsize=10.5, va="top")
        names = {"x": f"x\n(pad {demo.pad})", "w": "filters w\n", "dout": "dout\n(given)",
                 "dx": "dx\n" + ("(padding cut off\nat the end)" if demo.pad else "(so far)"), "dw": "dw\n(so far)",
                 "db": "db\n", "gather": "gather view\n(last frame)"}
        for name, left in lefts.items():
            axes.text(left, top - 0.7, names[name], color=style.GRADIENT if name[0] == "d" else style.TEXT, **title)

        def slices(name, values, padding=0):
            grids = []
            for d, slice_values in enumerate(values):
                y = top + d * slice_step
                axes.text(lefts[name], y - 0.1, f"depth {d}", **label)
                grids.append(style.NumberGrid(axes, slice_values, lefts[name], y, padding=padding, fontsize=fontsize))
            return grids

        def bank(name, values):
            grids = []
            for k in range(filters):
                row = []
                for d in range(depth):
                    x0, y = lefts[name] + d * (size + 0.5), top + k * max(filter_step, out_height + gap)
                    axes.text(x0, y - 0.1, f"{name}{k}[{d}]", **label)
                    row.append(style.NumberGrid(axes, values[k, d], x0, y, fontsize=fontsize))
                grids.append(row)
            return grids

        self.x = slices("x", demo.padded, demo.pad)
        self.dx = slices("dx", final.dx_pad, demo.pad)
        self.w, self.dw = bank("w", demo.weights), bank("dw", final.dw)
        self.dout, self.db = [], []
        for k in range(filters):
            y = top + k * max(filter_step, out_height + gap)
            axes.text(lefts["dout"], y - 0.1, f"filter {k}", **label)
            self.dout.append(style.NumberGrid(axes, demo.dout[k], lefts["dout"], y, fontsize=fontsize))
            axes.text(lefts["db"], y - 0.1, f"db{k}", **label)
            self.db.append(style.NumberGrid(axes, final.db[k:k + 1, None], lefts["db"], y, fontsize=fontsize))
        self.gather = slices("gather", demo.gathered)
        self.field_outlines = [grid.outline(axes, 0, 0, size, size, style.FIELD) for grid in self.x]
        self.dx_outlines = [grid.outline(axes, 0, 0, size, size, style.GRADIENT) for grid in self.dx]
        self.dout_outline = self.dout[0].outline(axes, 0, 0, 1, 1, style.GRADIENT)
        self.caption = self.figure.text(0.2 / figure_width, (footer_inches - 0.1) / figure_height, "", fontsize=9.5,
                                        va="top", family=style.MONOSPACE, linespacing=1.35)
        self.limit = max(np.abs(final.dx_pad).max(), np.abs(final.dw).max(), 1.0)

    def _gradient_values(self, grid, values, changed):
        """Write gradient numbers in, tinted by sign on a diverging scale centred on 0 (style.diverging_fill)."""
        grid.reset()
        grid.set_values(values)
        for index, value in np.ndenumerate(values):
            if grid.is_padding[index]:
                continue
            grid.cells[index].set_facecolor(style.diverging_fill(value, self.limit))
        if changed is not None:
            grid.paint(*changed, bold=True)

    def show(self, index: int):
        """Step `index` (0 … len(steps) − 1); len(steps): the end, beside the gather view."""
        demo, size = self.demo, self.demo.size
        end = index >= len(demo.steps)
        step = demo.steps[min(index, len(demo.steps) - 1)]
        field = (slice(step.top, step.top + size), slice(step.left, step.left + size))
        for grids in (self.x, self.dout, *self.w):
            for grid in grids:
                grid.reset()
        for grid in self.gather:
            grid.reset()
            grid.show_numbers(np.full(grid.values.shape, end))
        for d, grid in enumerate(self.x):
            self._gradient_values(self.dx[d], step.dx_pad[d], None if end else field)
            if not end:
                grid.paint(*field, fill=style.FIELD_FILL, bold=True)
            self.field_outlines[d].set_visible(not end)
            self.dx_outlines[d].set_visible(not end)
            self.field_outlines[d].set_xy((grid.x0 + step.left, grid.y0 + step.top))
            self.dx_outlines[d].set_xy((self.dx[d].x0 + step.left, self.dx[d].y0 + step.top))
        for k in range(len(self.w)):
            for d in range(len(self.w[k])):
                self._gradient_values(self.dw[k][d], step.dw[k, d], None if end or k != step.filter
                                      else (slice(None), slice(None)))
                if k == step.filter and not end:
                    self.w[k][d].paint(slice(None), slice(None), fill=style.FIELD_FILL, bold=True)
            self._gradient_values(self.db[k], step.db[k:k + 1, None], None)
        done = np.arange(len(demo.steps)).reshape(demo.dout.shape) <= index
        for k, grid in enumerate(self.dout):
            for (i, j), sent in np.ndenumerate(done[k]):
                if sent:
                    grid.paint(i, j, text=style.DISCARDED)
        self.dout_outline.set_visible(not end)
        if not end:
            target = self.dout[step.filter]
            target.paint(step.row, step.column, fill=style.GRADIENT_FILL, text=style.GRADIENT, bold=True)
            self.dout_outline.set_xy((target.x0 + step.column, target.y0 + step.row))
            self.caption.set_text(step.expression(size))
        else:
            agree = demo.agreement()
            marks = ", ".join(f"{name} {'✓' if ok else '✗'}" for name, ok in agree.items())
            self.caption.set_text(
                f"All {len(demo.steps)} outputs have sent their gradient back: {marks}.\n"
                f"dx sums over all {len(self.w)} filters (each sent something back to the same inputs); dw has one "
                f"{size}×{size} slice per filter and input depth.\nOverlapping fields (stride < F) added up in dx. "
                f"The gather view computes each dx number at once: the full convolution of dout with the flipped "
                f"filters.\nBlue cells are negative, red positive (a diverging scale centred on 0).")
        return self.figure

    def frames(self) -> list[np.ndarray]:
        """Every step and the end, as (H, W, 3) uint8 arrays."""
        return [style.figure_to_array(self.show(index)) for index in range(len(self.demo.steps) + 1)]


def save_scatter_animation(demo: ScatterDemo, folder, name: str = "conv-backward",
                           seconds_per_frame: float = 1.5) -> list[Path]:
    """Write `name`.gif and `name`.html (the player with play/pause/step) into folder."""
    picture = ScatterPicture(demo)
    frames = picture.frames()
    captions = [step.expression(demo.size) for step in demo.steps] + [picture.caption.get_text()]
    description = ("Each frame sends one number of dout back along the connections its output came from: onto its "
                   "receptive field of dx, times the filter, and into dw, times the field of x. The last frame "
                   "compares the result with the gather view and volnet's conv2d_backward.")
    return save_animation(frames, captions, folder, name, "Conv backward, step by step", description,
                          seconds_per_frame)
