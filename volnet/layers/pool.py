"""Pooling layers: no parameters; each depth slice is shrunk on its own."""

from __future__ import annotations

from volnet.layers.base import Layer
from volnet.ops.geometry import pair, window_output_shape
from volnet.ops.pool import global_avgpool_backward, global_avgpool_forward, pool2d_backward, pool2d_forward


class _Pool2D(Layer):
    mode = "max"

    def __init__(self, size=2, stride=None, pad=0):
        super().__init__()
        self.size, self.stride, self.pad = size, stride, pad
        self.window = pair(size, "size", minimum=1)
        self.strides = self.window if stride is None else pair(stride, "stride", minimum=1)
        self.pads = pair(pad, "pad", minimum=0)

    def output_shape(self, input_shape):
        self.expect_rank(input_shape, (3,), "a volume D×H×W (a batch (N, D, H, W))")
        return window_output_shape(self.label(), input_shape, self.window, self.strides, self.pads)

    def field_through(self, field):
        """The field grows by (F − 1)·jump, the jump by S, the start moves back by P·jump."""
        return field.through(self.window, self.strides, self.pads)

    def forward(self, x):
        x = self.check_input(x)
        out, self.cache = pool2d_forward(x, self.window, self.strides, self.pads, self.mode)
        return out

    def backward(self, dout):
        return pool2d_backward(dout, self.cache)


class MaxPool2D(_Pool2D):
    """Max pooling: each F×F window (stride S, default S = F) keeps its largest number.

    Args: size F or (FH, FW); stride S (default F); pad P (padding never wins).
    Shapes: (N, D, H, W) -> (N, D, OH, OW), OH = (H − F + 2P)/S + 1.
    """

    mode = "max"


class AvgPool2D(_Pool2D):
    """Average pooling: each F×F window keeps its mean (padding counts as zeros).

    Args: size F or (FH, FW); stride S (default F); pad P.
    Shapes: (N, D, H, W) -> (N, D, OH, OW).
    """

    mode = "avg"


class GlobalAvgPool2D(Layer):
    """Average each depth slice to one number: (N, D, H, W) -> (N, D)."""

    def output_shape(self, input_shape):
        self.expect_rank(input_shape, (3,), "a volume D×H×W (a batch (N, D, H, W))")
        return (input_shape[0],)

    def field_through(self, field):
        """Each average sees its whole input."""
        return field.everything()

    def forward(self, x):
        x = self.check_input(x)
        out, self.cache = global_avgpool_forward(x)
        return out

    def backward(self, dout):
        return global_avgpool_backward(dout, self.cache)
