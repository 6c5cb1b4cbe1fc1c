"""Backpropagation through a convolution, drawn as the convolutions it is.

For one depth slice and one filter (F×F, stride S, pad P), out = x_pad ⋆ w + b, where ⋆
slides the second grid over the first and takes a dot product at every position (the
forward pass of a conv layer). Given dout = ∂L/∂out:

    db = Σ dout                                     every output adds b once
    dw = x_pad ⋆ dout_s                             slide dout over the padded input
    dx = (dout_s padded with F − 1 zeros) ⋆ rot180(w), then cut the padding P off
                                                    a "full" convolution with the flipped filter

where dout_s is dout with S − 1 zeros between its entries (dout itself when S = 1): each
output was computed S input pixels after its neighbour. `convolution_gradients` computes
the three right-hand sides with volnet's own forward convolution and, beside them, the
gradients of volnet.ops.conv.conv2d_backward, so the picture can show that they agree.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from volnet.layers.conv import Conv2D
from volnet.ops.conv import conv2d_backward, conv2d_forward
from volnet.viz import style

MAX_PADDED_SIZE = 8


def _correlate(image, kernel):
    """image ⋆ kernel with volnet's conv2d_forward (stride 1, no padding): 2-D in, 2-D out."""
    out, _ = conv2d_forward(image[None, None], kernel[None, None])
    return out[0, 0]


@dataclass(frozen=True)
class ConvolutionGradients:
    """A 1-slice, 1-filter convolution, its gradients as convolutions, and volnet's gradients.

    Attributes:
        x: (H, W). weight: (F, F). bias: b. stride: S. pad: P.
        padded: (H + 2P, W + 2P). out: (OH, OW), volnet's forward. dout: (OH, OW).
        spread: dout_s, dout with S − 1 zeros between entries, (S(OH − 1) + 1, S(OW − 1) + 1).
        full: dout_s padded with F − 1 zeros on each side.
        flipped: rot180(w).
        dw_convolution: padded ⋆ spread, (F, F).
        dx_padded_convolution: full ⋆ flipped, (H + 2P, W + 2P); dx_convolution is its
            inside (H, W). db_sum: Σ dout.
        dx, dw, db: what volnet.ops.conv.conv2d_backward returns.
    """

    x: np.ndarray
    weight: np.ndarray
    bias: float
    stride: int
    pad: int
    padded: np.ndarray
    out: np.ndarray
    dout: np.ndarray
    spread: np.ndarray
    full: np.ndarray
    flipped: np.ndarray
    dw_convolution: np.ndarray
    dx_padded_convolution: np.ndarray
    dx_convolution: np.ndarray
    db_sum: float
    dx: np.ndarray
    dw: np.ndarray
    db: float

    def agreement(self) -> dict[str, bool]:
        """For dw, dx and db: does the convolution equal conv2d_backward's answer?"""
        return {"dw": bool(np.allclose(self.dw_convolution, self.dw)),
                "dx": bool(np.allclose(self.dx_convolution, self.dx)),
                "db": bool(np.isclose(self.db_sum, self.db))}


def random_backprop_inputs(width=4, height=4, size=3, stride=1, pad=0, seed=0):
    """Small whole numbers for x (0…3), w (−1…1), b, and dout (−2…2) that fit the output.

    Returns:
        x (H, W), weight (F, F), bias (float), dout (OH, OW).
    """
    _, out_height, out_width = check_hyperparameters(width, height, size, stride, pad)
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 4, size=(height, width)).astype(np.float64)
    weight = rng.integers(-1, 2, size=(size, size)).astype(np.float64)
    bias = float(rng.integers(0, 2))
    dout = rng.integers(-2, 3, size=(out_height, out_width)).astype(np.float64)
    return x, weight, bias, dout


def check_hyperparameters(width, height, size, stride, pad):
    """The library's error if the filter does not fit; a clear one if the picture would be too big.

    Returns:
        The output volume (1, OH, OW).
    """
    shape = Conv2D(1, size, stride=stride, pad=pad).output_shape((1, height, width))
    for name, value in (("width + 2·pad", width + 2 * pad), ("height + 2·pad", height + 2 * pad)):
        if value > MAX_PADDED_SIZE:
            raise ValueError(f"the backprop picture draws every number several times, so it keeps {name} ≤ "
                             f"{MAX_PADDED_SIZE}; got {value}. Choose a smaller input or padding.")
    return shape


def convolution_gradients(x, weight, bias, dout, stride: int = 1, pad: int = 0) -> ConvolutionGradients:
    """Run volnet's conv forward and backward on one slice and one filter, and compute the
    same gradients as convolutions (see the module doc).

    Args:
        x: (H, W). weight: (F, F). bias: a number. dout: (OH, OW). stride: S. pad: P.

    Raises:
        ValueError: the filter does not fit (Conv2D's message) or dout has the wrong shape.
    """
    x, weight, dout = (np.asarray(a, dtype=np.float64) for a in (x, weight, dout))
    if x.ndim != 2 or weight.ndim != 2 or weight.shape[0] != weight.shape[1]:
        raise ValueError(f"convolution_gradients wants x (H, W) and a square weight (F, F); "
                         f"got {x.shape} and {weight.shape}")
    size = weight.shape[0]
    _, out_height, out_width = check_hyperparameters(x.shape[1], x.shape[0], size, stride, pad)
    if dout.shape != (out_height, out_width):
        raise ValueError(f"dout must have the output's shape {(out_height, out_width)}, got {dout.shape}")
    out, cache = conv2d_forward(x[None, None], weight[None, None], np.array([bias]), stride=stride, pad=pad)
    dx, dw, db = conv2d_backward(dout[None, None], cache)
    padded = np.pad(x, pad)
    spread = np.zeros((stride * (out_height - 1) + 1, stride * (out_width - 1) + 1))
    spread[::stride, ::stride] = dout
    full = np.pad(spread, size - 1)
    flipped = weight[::-1, ::-1]
    dx_padded = _correlate(full, flipped)
    inside = (slice(pad, pad + x.shape[0]), slice(pad, pad + x.shape[1]))
    return ConvolutionGradients(
        x, weight, float(bias), stride, pad, padded, out[0, 0], dout, spread, full, flipped,
        _correlate(padded, spread), dx_padded, dx_padded[inside], float(dout.sum()),
        dx[0, 0], dw[0, 0], float(db[0]))


class BackpropPicture:
    """Four rows: the forward pass, then dw, dx and db each as a convolution (or a sum) next
    to volnet's conv2d_backward result with a check mark when they agree."""

    CELL_INCHES = 0.36
    ROW_GAP = 3.0

    def __init__(self, gradients: ConvolutionGradients):
        g = gradients
        self.gradients = g
        size, stride, pad = g.weight.shape[0], g.stride, g.pad
        agree = g.agreement()
        spread_name = "dout" if stride == 1 else f"dout spread by S = {stride}"
        full_name = f"dout{'' if stride == 1 else ' spread'}, padded by F−1 = {size - 1}"
        rows = [
            ("forward: out = x ⋆ w + b", [
                (g.padded, f"x (pad {pad})", pad), "⋆", (g.weight, "w", 0), "+", (np.array([[g.bias]]), "b", 0),
                "=", (g.out, "out", 0), "   ", (g.dout, "given dout = ∂L/∂out", 0)]),
            ("dw = x ⋆ dout", [
                (g.padded, f"x (pad {pad})", pad), "⋆", (g.spread, spread_name, 0), "=",
                (g.dw_convolution, "dw", 0), "   ", (g.dw, "volnet conv2d_backward: dw", 0),
                self._mark(agree["dw"])]),
            ("dx = dout ⋆ rot180(w): the full convolution of dout with the flipped filter", [
                (g.full, full_name, size - 1), "⋆", (g.flipped, "w rotated 180°", 0), "=",
                (g.dx_padded_convolution, "dx_pad (grey: padding, cut off)" if pad else "dx", pad), "   ",
                (g.dx, "volnet conv2d_backward: dx", 0), self._mark(agree["dx"])]),
        ]
        grids_width = max(self._row_width(items) for _, items in rows)
        heights = [max(item[0].shape[0] for item in items if isinstance(item, tuple) and not isinstance(item[0], str))
                   for _, items in rows]
        tops, y = [], 2.2
        for height in heights:
            tops.append(y)
            y += height + self.ROW_GAP
        db_top = y - 0.6
        # the sum of dout, ten terms a line, then volnet's db on a line of its own below it
        terms = [style.signed_term(v) for v in g.dout.ravel()]
        db_sum = "db = " + " +\n     ".join(" + ".join(terms[start:start + 10]) for start in range(0, len(terms), 10))
        db_sum += f" = {style.number_text(g.db_sum)}"
        sum_lines = db_sum.count("\n") + 1
        volnet_top = db_top + 0.5 + 0.6 * sum_lines + 0.3
        width, height = grids_width + 0.5, volnet_top + 1.0
        header_inches = 0.7
        figure_width = max(width * self.CELL_INCHES + 0.4, 9.0)
        figure_height = header_inches + height * self.CELL_INCHES
        self.figure = style.new_figure(figure_width, figure_height)
        axes = style.grid_axes(self.figure, width, height, rect=(
            0.03, 0, width * self.CELL_INCHES / figure_width, height * self.CELL_INCHES / figure_height))
        self.figure.text(0.03, 1 - 0.12 / figure_height,
                         f"Backprop through a convolution: F = {size}, stride {stride}, pad {pad}\n"
                         f"⋆ slides the right grid over the left one and takes a dot product at every position",
                         fontsize=10.5, va="top", linespacing=1.5)
        arrays = [item[0] for _, items in rows for item in items
                  if isinstance(item, tuple) and not isinstance(item[0], str)]
        fontsize = style.cell_fontsize(axes, style.widest(*arrays))
        self.grids = {}
        for (title, items), top in zip(rows, tops):
            axes.text(0, top - 1.35, title, fontsize=11.5, fontweight="bold", va="bottom", color=style.GRADIENT)
            self._draw_row(axes, top, items, fontsize)
        axes.text(0, db_top, "db = Σ dout", fontsize=11.5, fontweight="bold", va="bottom", color=style.GRADIENT)
        axes.text(0, db_top + 0.5, db_sum, fontsize=10.5, va="top", family=style.MONOSPACE, linespacing=1.3)
        volnet_db = f"volnet conv2d_backward: db = {style.number_text(g.db)}"
        axes.text(0, volnet_top, volnet_db, fontsize=10.5, va="top", family=style.MONOSPACE)
        mark, colour = self._mark(agree["db"])[1:]
        # a DejaVu Sans Mono character at 10.5 pt is about 0.24 cells wide
        axes.text(0.24 * len(volnet_db) + 1.0, volnet_top, mark, fontsize=12, va="top", color=colour,
                  fontweight="bold")

    @staticmethod
    def _mark(agrees: bool):
        return ("mark", "✓ agree", style.AGREE) if agrees else ("mark", "✗ differ", "#c0392b")

    @staticmethod
    def _item_width(item) -> float:
        if isinstance(item, tuple) and isinstance(item[0], str):
            return 3.2
        if isinstance(item, tuple):
            # a label of 9.5 pt takes about 0.2 cells a character
            return max(item[0].shape[1], 0.2 * len(item[1]))
        return 1.4 if item.strip() else 1.6

    def _row_width(self, items) -> float:
        return sum(self._item_width(item) for item in items)

    def _draw_row(self, axes, top, items, fontsize):
        x = 0.0
        height = max(item[0].shape[0] for item in items if isinstance(item, tuple) and not isinstance(item[0], str))
        for item in items:
            if isinstance(item, tuple) and isinstance(item[0], str):
                axes.text(x + 0.4, top + height / 2, item[1], fontsize=12, va="center", color=item[2],
                          fontweight="bold")
            elif isinstance(item, tuple):
                values, name, padding = item
                # grids are centred on the row, so the symbols between them read as an equation
                y = top + (height - values.shape[0]) / 2
                axes.text(x, y - 0.15, name, fontsize=9.5, va="bottom")
                self.grids[(top, name)] = style.NumberGrid(axes, values, x, y, padding=padding, fontsize=fontsize)
            elif item.strip():
                # the star operator is drawn small in DejaVu; make it as heavy as + and =
                axes.text(x + 0.7, top + height / 2, item, fontsize=30 if item == "⋆" else 16, ha="center",
                          va="center")
            x += self._item_width(item)


def save_backprop_picture(gradients: ConvolutionGradients, folder, name: str = "backprop") -> list[Path]:
    """Write `name`.png into folder."""
    return [style.save_figure(BackpropPicture(gradients).figure, Path(folder) / f"{name}.png")]
