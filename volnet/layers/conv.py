"""Conv2D: K learnable filters, each FH×FW and as deep as the input, slid with stride S over
the input zero-padded by P. Output volume: OW = (W − F + 2P)/S + 1 (same for OH), depth K."""

from __future__ import annotations

import math

import numpy as np

from volnet.gradients.numerical import VOLUME, LayerCase, away_from_zero
from volnet.layers.base import Layer, Parameter
from volnet.layers.cost import Cost, ParameterSharing
from volnet.layers.registry import register
from volnet.layers.twin import WEIGHT_AND_BIAS, Module
from volnet.layers.words import COUNT, NO_BIAS, Word
from volnet.ops.conv import conv2d_backward, conv2d_forward
from volnet.ops.geometry import pair, same_padding, window_output_shape


@register
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

    word = Word("conv", f"conv{COUNT}-{COUNT}", "conv<F>-<K>, e.g. conv3-64", "conv3-32",
                counts=("filter size F", "number of filters K"),
                suffixes={"s": "stride", "p": "pad", "d": "dilation", "g": "groups", **NO_BIAS})
    input_arguments = ("in_depth",)
    compute_bound = True

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

    def _forward(self, x):
        out, self.cache = conv2d_forward(x, self.weight.data, self.parameter_data("bias"),
                                         self.strides, self.pads, self.dilations, self.groups, self.algorithm)
        self.last_algorithm = self.cache.algorithm
        return out

    def _backward(self, dout, input_gradient=True):
        dx, dw, db = conv2d_backward(dout, self.cache, input_gradient)
        self._accumulate(weight=dw, bias=db)
        return dx

    def _backward_parameters(self, dout):
        self._backward(dout, input_gradient=False)

    # -- what the layer is ---------------------------------------------------------------------
    @classmethod
    def from_word(cls, numbers, options, rng):
        """conv<F>-<K>: K filters of F×F, stride 1, pad "same"; /s /p /d /g /nobias."""
        size, filters = int(numbers[0]), int(numbers[1])
        return cls(filters, size, stride=options.get("s", 1), pad=options.get("p", "same"),
                   bias=not options.get("nobias", False), dilation=options.get("d", 1), groups=options.get("g", 1))

    def cost(self, input_shape, output_shape):
        """K·(D/G)·FH·FW weights (+ K biases); each output number is one filter's dot product,
        FH·FW·D/G multiply-adds."""
        (fh, fw), depth = self.window, input_shape[0]
        weights = self.filters * depth // self.groups * fh * fw
        outputs = math.prod(output_shape)
        return Cost(weights + (self.filters if self.bias else 0), outputs * fh * fw * depth // self.groups, outputs)

    def sharing(self, input_shape, output_shape):
        return ParameterSharing(tuple(self.window), input_shape[0] // self.groups, self.filters, bool(self.bias),
                                math.prod(output_shape[1:]), math.prod(input_shape), math.prod(output_shape))

    def describe(self):
        (fh, fw), (sh, sw), (ph, pw) = self.window, self.strides, self.pads
        text = f"conv {fh}×{fw}, {self.filters} filters"
        if (sh, sw) != (1, 1):
            text += f", stride {sh if sh == sw else (sh, sw)}"
        if (ph, pw) != (0, 0):
            text += f", pad {ph if ph == pw else (ph, pw)}"
        return text

    def torch_modules(self):
        return [Module("Conv2d", dict(in_channels=self.in_depth, out_channels=self.filters, kernel_size=self.window,
                                      stride=self.strides, padding=self.pads, dilation=self.dilations,
                                      groups=self.groups, bias=self.parameter_data("bias") is not None),
                       WEIGHT_AND_BIAS)]

    def to_onnx(self, graph, name, x):
        """Conv with pads [P_h, P_w, P_h, P_w], strides, dilations, group."""
        inputs = [x, graph.weight(f"{name}.weight", self.weight.data)]
        if self.parameter_data("bias") is not None:
            inputs.append(graph.weight(f"{name}.bias", self.bias.data))
        return graph.node("Conv", inputs, name, kernel_shape=list(self.window), strides=list(self.strides),
                          pads=[*self.pads, *self.pads], dilations=list(self.dilations), group=self.groups)

    @classmethod
    def gradient_cases(cls):
        return (
            LayerCase("conv 3×3 pad 1", lambda: cls(4, 3, pad=1), away_from_zero(VOLUME)),
            LayerCase("conv 3×2 stride (2,1) pad (1,0)", lambda: cls(2, (3, 2), stride=(2, 1), pad=(1, 0)),
                      away_from_zero((2, 3, 7, 6))),
            LayerCase("conv stride 2 pad 2", lambda: cls(3, 5, stride=2, pad=2), away_from_zero((2, 2, 7, 7))),
            LayerCase("conv dilated", lambda: cls(2, 3, pad="same", dilation=2), away_from_zero(VOLUME)),
            LayerCase("conv depthwise", lambda: cls(3, 3, pad=1, groups=3, bias=False), away_from_zero(VOLUME)),
        )
