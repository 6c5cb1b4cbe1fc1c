"""ConvTranspose2D: the transposed convolution, a decoder's upsampling layer. Every input number
scatters its K filters, scaled by itself, onto an output larger by the stride:
OW = (W − 1)·S − 2P + dil·(F − 1) + op + 1 (same for OH), depth K (volnet/ops/conv_transpose.py)."""

from __future__ import annotations

import math

import numpy as np

from volnet.gradients.numerical import VOLUME, LayerCase, away_from_zero
from volnet.layers.base import Layer, Parameter, format_shape
from volnet.layers.cost import Cost
from volnet.layers.registry import register
from volnet.layers.twin import WEIGHT_AND_BIAS, Module
from volnet.layers.words import COUNT, NO_BIAS, Word
from volnet.ops.conv_transpose import (conv_transpose2d_backward, conv_transpose2d_forward, output_pad_rule,
                                      transposed_geometry)
from volnet.ops.geometry import pair


@register
class ConvTranspose2D(Layer):
    """A transposed convolutional layer (PyTorch's nn.ConvTranspose2d).

    Args:
        filters: K, the depth of the output volume.
        size: F, or (FH, FW) for rectangular filters.
        stride: S or (S_h, S_w): how far apart the input numbers' filter copies land.
        pad: P or (P_h, P_w): rows and columns cut off each side of the output.
        output_pad: op or (op_h, op_w), below max(stride, dilation): rows and columns added at
            the bottom and right, to reach the size a stride-S convolution brought down to W.
        dilation: spacing between filter taps. groups: G, dividing D and K.
        bias: whether each filter has a bias. in_depth: D, to build at once.

    Parameters: weight (D, K/G, FH, FW), bias (K,) — PyTorch's layout.
    Shapes: (N, D, H, W) -> (N, K, OH, OW).

    Example:
        >>> up = ConvTranspose2D(8, 4, stride=2, pad=1)
        >>> up.forward(np.zeros((2, 3, 16, 16), np.float32)).shape
        (2, 8, 32, 32)
    """

    word = Word("deconv", f"deconv{COUNT}-{COUNT}", "deconv<F>-<K>, e.g. deconv3-32/s2", "deconv3-32/s2",
                counts=("filter size F", "number of filters K"),
                suffixes={"s": "stride", "p": "pad", "op": "output padding", "d": "dilation", "g": "groups",
                          **NO_BIAS},
                zero_allowed=("p", "op"))
    input_arguments = ("in_depth",)
    compute_bound = True

    def __init__(self, filters: int, size=3, stride=1, pad=0, output_pad=0, dilation=1, groups: int = 1,
                 bias: bool = True, in_depth: int | None = None):
        super().__init__()
        if filters < 1 or groups < 1 or filters % groups:
            raise ValueError(f"ConvTranspose2D needs filters ≥ 1 and divisible by groups, got filters={filters}, "
                             f"groups={groups}")
        self.filters, self.size, self.stride, self.pad, self.output_pad = filters, size, stride, pad, output_pad
        self.dilation, self.groups, self.bias, self.in_depth = dilation, groups, bias, in_depth
        self.weight = None  # created by build, from the input depth
        self.window, self.strides = pair(size, "size", minimum=1), pair(stride, "stride", minimum=1)
        self.pads, self.output_pads = pair(pad, "pad", minimum=0), pair(output_pad, "output_pad", minimum=0)
        self.dilations = pair(dilation, "dilation", minimum=1)
        broken = output_pad_rule(self.output_pads, self.strides, self.dilations)
        if broken:
            raise ValueError(f"{self.label()}: {broken}")
        # which conv algorithm the transposed convolution's ops run (volnet.ops.conv), and the
        # one the last forward ran
        self.algorithm, self.last_algorithm = "auto", None
        if in_depth is not None:
            self._create_parameters((in_depth,), np.random.default_rng())

    def output_shape(self, input_shape):
        self.expect_rank(input_shape, (3,), "a volume D×H×W (a batch (N, D, H, W))")
        depth = input_shape[0]
        if depth % self.groups:
            raise ValueError(f"{self.label()}: input depth {depth} is not divisible by groups={self.groups}")
        if self.in_depth is not None and depth != self.in_depth:
            raise ValueError(f"{self.label()} has filters for inputs of depth {self.in_depth} but its input has "
                             f"depth {depth}. Give it inputs of depth {self.in_depth}, or rebuild it for depth {depth}.")
        try:
            out_hw = transposed_geometry((1, *input_shape), (depth, self.filters // self.groups, *self.window),
                                         self.strides, self.pads, self.output_pads, self.dilations, self.groups)[0]
        except ValueError as error:
            raise ValueError(f"{self.label()} does not fit its {format_shape(input_shape)} input: "
                             f"{str(error).removeprefix('conv_transpose2d: ')}") from None
        return (self.filters, *out_hw)

    def field_through(self, field):
        """Output neurons stand 1/S of an input position apart: the field's jump becomes a
        fraction (volnet.ops.geometry.ReceptiveField.through_transposed)."""
        return field.through_transposed(self.window, self.strides, self.pads, self.dilations)

    def _create_parameters(self, input_shape, rng):
        depth = input_shape[0]
        # He initialisation over the terms of one output number: D/G input slices, each reaching
        # it through about FH·FW/(S_h·S_w) taps
        fan_in = max(1.0, depth // self.groups * math.prod(self.window) / math.prod(self.strides))
        weight = rng.standard_normal((depth, self.filters // self.groups, *self.window)) * np.sqrt(2.0 / fan_in)
        self.weight = Parameter(weight.astype(self.dtype))
        if self.bias:
            self.bias = Parameter(np.zeros(self.filters, dtype=self.dtype))
        self.in_depth = depth

    def _forward(self, x):
        out, self.cache = conv_transpose2d_forward(x, self.weight.data, self.parameter_data("bias"), self.strides,
                                                   self.pads, self.output_pads, self.dilations, self.groups,
                                                   self.algorithm)
        self.last_algorithm = self.cache.forward_algorithm
        return out

    def _backward(self, dout, input_gradient=True):
        dx, dw, db = conv_transpose2d_backward(dout, self.cache, input_gradient)
        self._accumulate(weight=dw, bias=db)
        return dx

    def _backward_parameters(self, dout):
        self._backward(dout, input_gradient=False)

    # -- what the layer is ---------------------------------------------------------------------
    @classmethod
    def from_word(cls, numbers, options, rng):
        """deconv<F>-<K>: K filters of F×F, stride 1, pad 0; /s /p /op /d /g /nobias."""
        return cls(int(numbers[1]), int(numbers[0]), stride=options.get("s", 1), pad=options.get("p", 0),
                   output_pad=options.get("op", 0), dilation=options.get("d", 1), groups=options.get("g", 1),
                   bias=not options.get("nobias", False))

    def cost(self, input_shape, output_shape):
        """D·(K/G)·FH·FW weights (+ K biases); every input number meets its K/G filters' FH·FW
        taps once, D·H·W·(K/G)·FH·FW multiply-adds (the copies that P cuts off included)."""
        taps = self.filters // self.groups * math.prod(self.window)
        weights = input_shape[0] * taps
        outputs = math.prod(output_shape)
        return Cost(weights + (self.filters if self.bias else 0), math.prod(input_shape) * taps, outputs)

    def describe(self):
        (fh, fw), (sh, sw), (ph, pw), (oh, ow) = self.window, self.strides, self.pads, self.output_pads
        text = f"deconv {fh}×{fw}, {self.filters} filters"
        for name, (height, width) in (("stride", (sh, sw)), ("pad", (ph, pw)), ("output pad", (oh, ow))):
            if (height, width) != ((1, 1) if name == "stride" else (0, 0)):
                text += f", {name} {height if height == width else (height, width)}"
        return text

    def torch_modules(self):
        return [Module("ConvTranspose2d", dict(in_channels=self.in_depth, out_channels=self.filters,
                                               kernel_size=self.window, stride=self.strides, padding=self.pads,
                                               output_padding=self.output_pads, groups=self.groups,
                                               bias=self.parameter_data("bias") is not None,
                                               dilation=self.dilations),
                       WEIGHT_AND_BIAS)]

    def to_onnx(self, graph, name, x):
        """ConvTranspose with pads [P_h, P_w, P_h, P_w], output_padding, strides, dilations, group."""
        inputs = [x, graph.weight(f"{name}.weight", self.weight.data)]
        if self.parameter_data("bias") is not None:
            inputs.append(graph.weight(f"{name}.bias", self.bias.data))
        return graph.node("ConvTranspose", inputs, name, kernel_shape=list(self.window), strides=list(self.strides),
                          pads=[*self.pads, *self.pads], output_padding=list(self.output_pads),
                          dilations=list(self.dilations), group=self.groups)

    onnx_ops = ("ConvTranspose",)

    @classmethod
    def from_onnx(cls, reader, node, attributes, shape):
        """A ConvTranspose node (weight (D, K/G, FH, FW), pads alike at both ends, no output_shape)."""
        weight = reader.constant(node, 1, "weight")
        if weight.ndim != 4:
            raise reader.refuse(node, f"its weight has shape {weight.shape}; volnet's ConvTranspose2D takes "
                                      f"(D, K/G, FH, FW)")
        if "output_shape" in attributes:
            raise reader.refuse(node, "it gives output_shape; volnet imports explicit pads and output_padding")
        window, strides, pads, dilations = reader.window(node, attributes, weight.shape[2:])
        groups = int(attributes.get("group", 1))
        bias = reader.constant(node, 2, "bias", required=False)
        output_pads = tuple(attributes.get("output_padding", (0, 0)))
        layer = cls(weight.shape[1] * groups, _square(window), stride=_square(strides), pad=_square(pads),
                    output_pad=_square(output_pads), dilation=_square(dilations), groups=groups,
                    bias=bias is not None)
        return layer, {"weight": weight, "bias": bias}

    @classmethod
    def gradient_cases(cls):
        return (
            LayerCase("deconv 3×3 stride 2 pad 1 output pad 1", lambda: cls(2, 3, stride=2, pad=1, output_pad=1),
                      away_from_zero(VOLUME)),
            LayerCase("deconv 2×3 stride (2,1) dilated, grouped, no bias",
                      lambda: cls(2, (2, 3), stride=(2, 1), dilation=(1, 2), groups=2, bias=False),
                      away_from_zero((2, 4, 3, 4))),
        )


def _square(pair):
    """(3, 3) -> 3, as configs and architecture words write square windows."""
    pair = tuple(int(value) for value in pair)
    return pair[0] if pair[0] == pair[1] else pair
