"""Pooling layers: no parameters; each depth slice is shrunk on its own."""

from __future__ import annotations

import math

from volnet.gradients.numerical import VOLUME, LayerCase, away_from_zero, shuffled_ramp
from volnet.layers.base import Layer
from volnet.layers.cost import Cost
from volnet.layers.registry import register
from volnet.layers.twin import Module
from volnet.layers.words import COUNT, STRIDE_AND_PAD, Word
from volnet.ops.geometry import pair, window_output_shape
from volnet.ops.pool import global_avgpool_backward, global_avgpool_forward, pool2d_backward, pool2d_forward


class _Pool2D(Layer):
    """F×F windows slid with stride S over the input padded by P; `mode` says what each keeps.
    Its twin is torch.nn.<torch_kind>(**torch_extra), its ONNX node <onnx_op>(**onnx_extra)."""

    mode = "max"
    torch_kind, torch_extra = "MaxPool2d", {}
    onnx_op, onnx_extra = "MaxPool", {}

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

    def _forward(self, x):
        out, self.cache = pool2d_forward(x, self.window, self.strides, self.pads, self.mode)
        return out

    def _backward(self, dout):
        return pool2d_backward(dout, self.cache)

    # -- what the layer is ---------------------------------------------------------------------
    @classmethod
    def from_word(cls, numbers, options, rng):
        """pool<F> (F = 2 by default): F×F windows, stride F; /s /p."""
        return cls(int(numbers[0] or 2), stride=options.get("s"), pad=options.get("p", 0))

    def cost(self, input_shape, output_shape):
        """F·F multiply-adds per output number: each window number is visited once."""
        outputs = math.prod(output_shape)
        return Cost(0, outputs * math.prod(self.window), outputs)

    def describe(self):
        (fh, fw), (sh, sw) = self.window, self.strides
        return f"{self.mode} pool {fh}×{fw}" + ("" if (sh, sw) == (fh, fw) else f", stride {sh}")

    def torch_modules(self):
        return [Module(self.torch_kind, dict(kernel_size=self.window, stride=self.strides, padding=self.pads,
                                             **self.torch_extra))]

    def to_onnx(self, graph, name, x):
        return graph.node(self.onnx_op, [x], name, kernel_shape=list(self.window), strides=list(self.strides),
                          pads=[*self.pads, *self.pads], **self.onnx_extra)


@register
class MaxPool2D(_Pool2D):
    """Max pooling: each F×F window (stride S, default S = F) keeps its largest number.

    Args: size F or (FH, FW); stride S (default F); pad P (padding never wins).
    Shapes: (N, D, H, W) -> (N, D, OH, OW), OH = (H − F + 2P)/S + 1.
    """

    mode = "max"
    word = Word("pool", f"pool{COUNT}?", "pool, pool<F> or pool<F>/s<S>", "pool", counts=("window size F",),
                suffixes=STRIDE_AND_PAD)

    @classmethod
    def gradient_cases(cls):
        # a shuffled ramp: no perturbation of ±2h changes a window's winner
        return (LayerCase("max pool 2×2", lambda: cls(2), shuffled_ramp(VOLUME)),
                LayerCase("max pool 3×3 stride 1 pad 1", lambda: cls(3, stride=1, pad=1), shuffled_ramp(VOLUME)))


@register
class AvgPool2D(_Pool2D):
    """Average pooling: each F×F window keeps its mean (padding counts as zeros).

    Args: size F or (FH, FW); stride S (default F); pad P.
    Shapes: (N, D, H, W) -> (N, D, OH, OW).
    """

    mode = "avg"
    torch_kind, torch_extra = "AvgPool2d", {"count_include_pad": True}  # volnet counts the padding as zeros
    onnx_op, onnx_extra = "AveragePool", {"count_include_pad": 1}
    word = Word("avgpool", f"avgpool{COUNT}?", "avgpool, avgpool<F> or avgpool<F>/s<S>", "avgpool",
                counts=("window size F",), suffixes=STRIDE_AND_PAD)

    @classmethod
    def gradient_cases(cls):
        return (LayerCase("avg pool 3×3 stride 1", lambda: cls(3, stride=1), away_from_zero(VOLUME)),)


@register
class GlobalAvgPool2D(Layer):
    """Average each depth slice to one number: (N, D, H, W) -> (N, D)."""

    word = Word("gap", "gap", "gap", "gap")

    def output_shape(self, input_shape):
        self.expect_rank(input_shape, (3,), "a volume D×H×W (a batch (N, D, H, W))")
        return (input_shape[0],)

    def field_through(self, field):
        """Each average sees its whole input."""
        return field.everything()

    def _forward(self, x):
        out, self.cache = global_avgpool_forward(x)
        return out

    def _backward(self, dout):
        return global_avgpool_backward(dout, self.cache)

    def cost(self, input_shape, output_shape):
        """D·H·W multiply-adds: each input number is added once."""
        return Cost(0, math.prod(input_shape), math.prod(output_shape))

    def describe(self):
        return "global avg pool"

    def torch_modules(self):
        return [Module("AdaptiveAvgPool2d", {"output_size": 1}), Module("Flatten")]

    def to_onnx(self, graph, name, x):
        return graph.node("Flatten", [graph.node("GlobalAveragePool", [x], f"{name}.pool")], name, axis=1)

    @classmethod
    def gradient_cases(cls):
        return (LayerCase("global avg pool", cls, away_from_zero(VOLUME)),)
