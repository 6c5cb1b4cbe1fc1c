"""A transposed convolution in the conv_arithmetic style: the input stretched with zeros, the
filter sliding over it, the larger output filling in.

conv_arithmetic (the notes' link) draws a transposed convolution as an ordinary one: spread
the input's numbers S − 1 zeros apart, put F − 1 − P zeros around them (and op more at the
bottom and right), and slide the filters over that stretched input at stride 1. It is the
same as the op's scatter view (volnet/ops/conv_transpose.py) once each filter is turned by
180°: output (y, z) meets x[i, j] through tap (a, c) of the scatter exactly where the
stretched window at (y, z) puts x[i, j] under tap (F − 1 − a, F − 1 − c). The output is

    OW = (W − 1)·S − 2P + F + op        (likewise OH)

`transposed_demo` builds that convolution's frames (ConvolutionDemo's, drawn by
ConvolutionPicture) and checks its output against conv_transpose2d_forward_reference;
`save_transposed_animation` writes the GIF and the HTML page.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from volnet.layers.base import format_shape
from volnet.ops.conv_transpose import conv_transpose2d_forward_reference, transposed_geometry
from volnet.viz.convolution import (MAX_DEPTH, MAX_FILTER_SIZE, MAX_FILTERS, MAX_PADDED_SIZE, ConvolutionDemo,
                                    check_at_least_one, check_readable,
                                    convolution_demo, random_demo_volume, save_convolution_animation)


@dataclass(frozen=True)
class TransposedConvolutionDemo(ConvolutionDemo):
    """A transposed convolution of one volume, drawn as the stride-1 convolution that computes it.

    The ConvolutionDemo fields describe that convolution: `padded` is the stretched input
    (D, (H − 1)·S + 1 + 2(F − 1 − P) + op, likewise W), `weights` (K, D, F, F) are the filters
    turned by 180° (weights[k, d] = w[d, k, ::-1, ::-1]), `stride` is 1 and `pad` is the
    border F − 1 − P; `out` (K, OH, OW) is the transposed convolution's output.

    Attributes (besides):
        filters_transposed: w (D, K, F, F), the op's filters.
        transposed_stride, transposed_pad, output_pad: S, P and op of the transposed convolution.
        inserted: (H', W') boolean, the stretched input's cells that are added zeros.
    """

    filters_transposed: np.ndarray = None
    transposed_stride: int = 1
    transposed_pad: int = 0
    output_pad: int = 0
    inserted: np.ndarray = None

    TITLE = "Transposed convolution in action"

    def formula(self) -> str:
        """The output-size rule with the numbers filled in, how the input is stretched, and the shapes."""
        depth, height, width = self.x.shape
        size, stride, pad, output_pad = self.filter_size, self.transposed_stride, self.transposed_pad, self.output_pad
        out_depth, out_height, out_width = self.out.shape
        rule = "(W − 1)·S − 2P + F + op"
        sizes = [f"OW = {rule} = ({width} − 1)·{stride} − 2·{pad} + {size} + {output_pad} = {out_width}"]
        if height != width:
            sizes.append(f"OH = ({height} − 1)·{stride} − 2·{pad} + {size} + {output_pad} = {out_height}")
        filters = f"{out_depth} filter{'s' if out_depth > 1 else ''}"

        def zeros(count):
            return f"{count} zero{'' if count == 1 else 's'}"

        return "\n".join([
            ";  ".join(sizes),
            f"input stretched: S − 1 = {zeros(stride - 1)} apart, F − 1 − P = {zeros(self.pad)} around, "
            f"op = {output_pad} more below and right",
            f"{format_shape(self.x.shape)} input, {filters} of {size}×{size}×{depth} (drawn turned 180°), "
            f"stride {stride}, pad {pad}, op {output_pad} → {format_shape(self.out.shape)} output"])

    def description(self) -> str:
        return (self.formula().replace("\n", ";  ") + ". Each frame computes one number of the larger output: "
                "the window (blue) over the stretched input times the turned filter, summed, plus the bias — "
                "the same numbers as every input number scattering its filter onto the output.")

    def input_title(self) -> str:
        return f"Input, stretched\n{format_shape(self.padded.shape)}"

    def padding_cells(self):
        return self.inserted


def check_hyperparameters(width: int, height: int, depth: int, filters: int, size: int, stride: int, pad: int,
                          output_pad: int = 0):
    """Raise the op's own error if these hyperparameters make no transposed convolution, and a
    clear one if the picture cannot draw it or would have too many numbers to read.

    Returns:
        The stretched input's (height, width).
    """
    check_at_least_one(width=width, height=height, depth=depth, filters=filters, size=size)
    transposed_geometry((1, depth, height, width), (depth, filters, size, size), stride, pad, output_pad)
    if pad > size - 1:
        raise ValueError(f"the stretched-input picture puts F − 1 − P zeros around the input, so it draws pad ≤ F − 1 "
                         f"= {size - 1}; got pad {pad}. Choose a larger size or a smaller pad.")
    stretched = tuple((n - 1) * stride + 1 + 2 * (size - 1 - pad) + output_pad for n in (height, width))
    limits = (("(H − 1)·S + 1 + 2(F − 1 − P) + op", stretched[0], MAX_PADDED_SIZE),
              ("(W − 1)·S + 1 + 2(F − 1 − P) + op", stretched[1], MAX_PADDED_SIZE), ("depth", depth, MAX_DEPTH),
              ("filters", filters, MAX_FILTERS), ("size", size, MAX_FILTER_SIZE))
    check_readable("transposed convolution picture", limits, "Choose a smaller input, filter or stride.")
    return stretched


def stretched_input(x: np.ndarray, size: int, stride: int, pad: int, output_pad: int = 0):
    """x (D, H, W) spread out: S − 1 zeros between numbers, F − 1 − P zeros around, op more
    at the bottom and right.

    Returns:
        stretched (D, H', W'), H' = (H − 1)·S + 1 + 2(F − 1 − P) + op; inserted (H', W') boolean,
        True where a cell is an added zero rather than a number of x.
    """
    depth, height, width = x.shape
    border = size - 1 - pad
    shape = tuple((n - 1) * stride + 1 + 2 * border + output_pad for n in (height, width))
    stretched = np.zeros((depth, *shape), dtype=x.dtype)
    numbers = (slice(border, border + (height - 1) * stride + 1, stride),
               slice(border, border + (width - 1) * stride + 1, stride))
    stretched[(slice(None), *numbers)] = x
    inserted = np.ones(shape, dtype=bool)
    inserted[numbers] = False
    return stretched, inserted


def transposed_demo(x, weights, bias, stride: int = 2, pad: int = 0, output_pad: int = 0) -> TransposedConvolutionDemo:
    """A transposed convolution of one volume as the stretched-input convolution, every step recorded.

    Args:
        x: (D, H, W) input volume. weights: (D, K, F, F), the op's layout. bias: (K,).
        stride, pad, output_pad: S, P, op of the transposed convolution.

    Returns:
        A TransposedConvolutionDemo, one step per output position (k, i, j).

    Raises:
        ValueError: the hyperparameters make no transposed convolution (the op's message),
            or the picture would be unreadable; or the stretched convolution disagrees with
            conv_transpose2d_forward_reference (a bug).
    """
    x, weights, bias = (np.asarray(a, dtype=np.float64) for a in (x, weights, bias))
    if x.ndim != 3 or weights.ndim != 4 or weights.shape[0] != x.shape[0] or bias.shape != weights.shape[1:2]:
        raise ValueError(f"transposed_demo wants x (D, H, W), weights (D, K, F, F) and bias (K,); "
                         f"got {x.shape}, {weights.shape} and {bias.shape}")
    if weights.shape[2] != weights.shape[3]:
        raise ValueError(f"transposed_demo draws square F×F filters, got {weights.shape[2]}×{weights.shape[3]}")
    depth, height, width = x.shape
    filters, size = weights.shape[1], weights.shape[2]
    check_hyperparameters(width, height, depth, filters, size, stride, pad, output_pad)
    stretched, inserted = stretched_input(x, size, stride, pad, output_pad)
    turned = weights.transpose(1, 0, 2, 3)[:, :, ::-1, ::-1]
    convolution = convolution_demo(stretched, turned, bias)
    out, _ = conv_transpose2d_forward_reference(x[None], weights, bias, stride, pad, output_pad)
    if not np.allclose(convolution.out, out[0], rtol=1e-12, atol=1e-12):
        raise ValueError("the stretched-input convolution disagrees with conv_transpose2d_forward_reference")
    return TransposedConvolutionDemo(x, turned, bias, 1, size - 1 - pad, stretched, out[0], convolution.steps,
                                     weights, stride, pad, output_pad, inserted)


def random_transposed_volume(width=3, height=3, depth=1, filters=2, size=3, seed=0):
    """Small integers, as volnet.viz.convolution.random_demo_volume, with the filters in the
    op's layout (D, K, F, F).

    Returns:
        x (D, H, W) in {0, 1, 2}; weights (D, K, F, F) in {−1, 0, 1}; bias (K,) in {0, 1}.
    """
    x, weights, bias = random_demo_volume(width, height, depth, filters, size, seed)
    return x, weights.transpose(1, 0, 2, 3).copy(), bias


def save_transposed_animation(demo: TransposedConvolutionDemo, folder, name: str = "conv-transposed",
                              seconds_per_frame: float = 1.0):
    """Write `name`.gif and `name`.html into folder, as `volnet show conv` does.

    Returns:
        The paths written.
    """
    return save_convolution_animation(demo, folder, name, seconds_per_frame=seconds_per_frame)
