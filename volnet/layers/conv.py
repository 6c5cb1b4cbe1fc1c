"""Conv2D: K learnable filters, each FH×FW and as deep as the input, slid with stride S over
the input zero-padded by P. Output volume: OW = (W − F + 2P)/S + 1 (same for OH), depth K."""

from __future__ import annotations

import numpy as np

from volnet.layers.base import Layer, Parameter
from volnet.ops.conv import conv2d_backward, conv2d_forward
from volnet.ops.geometry import pair, same_padding, window_output_shape


class Conv2D(Layer):
    """A convolutional layer.

    Args:
        filters: K, the number of filters = the depth of the output volume.
        size: F, or (FH, FW) for rectangular filters.
        stride: S or (S_h, S_w).
        pad: P, (P_h, P_w), or "same" (P = (F − 1)/2, keeps W×H at stride 1).
        bias: whether each filter has a bias.
        dilation: spacing between filter taps (1 = an ordinary filter).
        groups: G; each filter sees D/G of the input depth (G = D is depthwise convolution).
        in_depth: D, to build at once; otherwise the first input (or a model) fixes it.

    Parameters: weight (K, D/G, FH, FW), bias (K,) — the layout of CS231n and PyTorch.
    Shapes: (N, D, H, W) -> (N, K, OH, OW).

    Example:
        >>> conv = Conv2D(8, 3, pad=1)
        >>> conv.forward(np.zeros((2, 3, 32, 32), np.float32)).shape
        (2, 8, 32, 32)
    """

    def __init__(self, filters: int, size=3, stride=1, pad=0, bias: bool = True, dilation=1, groups: int = 1,
                 in_depth: int | None = None):
        super().__init__()
        if filters < 1 or groups < 1 or filters % groups:
            raise ValueError(f"Conv2D needs filters ≥ 1 and divisible by groups, got filters={filters}, groups={groups}")
        self.filters, self.size, self.stride, self.pad = filters, size, stride, pad
        self.weight = None  # created by build, from the input depth
        self.bias, self.dilation, self.groups, self.in_depth = bias, dilation, groups, in_depth
        self.window, self.strides, self.dilations = (pair(size, "size", minimum=1), pair(stride, "stride", minimum=1),
                                                       pair(dilation, "dilation", minimum=1))
        if pad == "same":
            self.pads = tuple(same_padding(f, d) for f, d in zip(self.window, self.dilations))
        else:
            self.pads = pair(pad, "pad", minimum=0)
        if in_depth is not None:
            self._create_parameters((in_depth,), np.random.default_rng())
        # which conv algorithm to run (volnet.ops.conv: "auto", "reference", "im2col", "winograd"),
        # and the one the last forward ran
        self.algorithm, self.last_algorithm = "auto", None

    def output_shape(self, input_shape):
        self.expect_rank(input_shape, (3,), "a volume D×H×W (a batch (N, D, H, W))")
        depth = input_shape[0]
        if depth % self.groups:
            raise ValueError(f"{self.label()}: input depth {depth} is not divisible by groups={self.groups}")
        if self.in_depth is not None and depth != self.in_depth:
            raise ValueError(
                f"{self.label()} has filters of depth {self.in_depth // self.groups * self.groups} "
                f"but its input has depth {depth}: a filter always extends through the full depth of "
                f"its input. Give the layer inputs of depth {self.in_depth}, or rebuild it for depth {depth}."
            )
        return window_output_shape(self.label(), input_shape, self.window, self.strides, self.pads,
                                   self.dilations, out_depth=self.filters)

    def field_through(self, field):
        """The field grows by (F_eff − 1)·jump, the jump by S, the start moves back by P·jump."""
        return field.through(self.window, self.strides, self.pads, self.dilations)

    def _create_parameters(self, input_shape, rng):
        depth = input_shape[0]
        fan_in = depth // self.groups * self.window[0] * self.window[1]
        # He initialisation: keeps the variance of activations steady through ReLU layers
        weight = rng.standard_normal((self.filters, depth // self.groups, *self.window)) * np.sqrt(2.0 / fan_in)
        self.weight = Parameter(weight.astype(self.dtype))
        if self.bias:
            self.bias = Parameter(np.zeros(self.filters, dtype=self.dtype))
        self.in_depth = depth

    def forward(self, x):
        x = self.check_input(x)
        out, self.cache = conv2d_forward(x, self.weight.data, self.parameter_data("bias"),
                                         self.strides, self.pads, self.dilations, self.groups, self.algorithm)
        self.last_algorithm = self.cache.algorithm
        return out

    def backward(self, dout, input_gradient=True):
        dx, dw, db = conv2d_backward(dout, self.cache, input_gradient)
        self._accumulate(weight=dw, bias=db)
        return dx

    def backward_parameters(self, dout):
        self.backward(dout, input_gradient=False)
