"""The fully-connected layer and Flatten."""

from __future__ import annotations

import math

import numpy as np

from volnet.gradients.numerical import VOLUME, LayerCase, away_from_zero
from volnet.layers.base import Layer, Parameter
from volnet.layers.cost import Cost
from volnet.layers.registry import register
from volnet.layers.twin import WEIGHT_AND_BIAS, Module
from volnet.layers.words import COUNT, NO_BIAS, Word
from volnet.ops.linear import linear_backward, linear_forward


@register
class Linear(Layer):
    """Fully connected: every output is a weighted sum of all inputs plus a bias.

    A volume input (N, D, H, W) is flattened to (N, D·H·W) first, so a Linear can follow a
    conv or pool layer directly.

    Args:
        units: D_out, the number of outputs.
        bias: whether to add a bias.
        in_features: D_in, to build at once; otherwise the first input fixes it.

    Parameters: weight (D_out, D_in) as in PyTorch, bias (D_out,).
    Shapes: (N, ...) -> (N, D_out).
    """

    word = Word("fc", f"fc{COUNT}", "fc<N>, e.g. fc10", "fc10", counts=("number of outputs N",), suffixes=NO_BIAS)
    input_arguments = ("in_features",)
    compute_bound = True

    def __init__(self, units: int, bias: bool = True, in_features: int | None = None):
        super().__init__()
        if units < 1:
            raise ValueError(f"Linear needs units ≥ 1, got {units}")
        self.weight = None  # created by build, from the input depth
        self.units, self.bias, self.in_features = units, bias, in_features
        if in_features is not None:
            self._create_parameters((in_features,), np.random.default_rng())

    def field_through(self, field):
        """Every unit sees the whole input."""
        return field.everything()

    def output_shape(self, input_shape):
        features = math.prod(input_shape)
        if self.in_features is not None and features != self.in_features:
            raise ValueError(
                f"{self.label()} has weights for {self.in_features} inputs but each example has "
                f"{features} numbers (shape {tuple(input_shape)}). Check the layers before it, "
                f"or rebuild this layer for {features} inputs."
            )
        return (self.units,)

    def _create_parameters(self, input_shape, rng):
        features = math.prod(input_shape)
        # He initialisation, as for Conv2D
        self.weight = Parameter((rng.standard_normal((self.units, features)) * np.sqrt(2.0 / features)).astype(self.dtype))
        if self.bias:
            self.bias = Parameter(np.zeros(self.units, dtype=self.dtype))
        self.in_features = features

    def _forward(self, x):
        out, self.cache = linear_forward(x, self.weight.data, self.parameter_data("bias"))
        return out

    def _backward(self, dout):
        dx, dw, db = linear_backward(dout, self.cache)
        self._accumulate(weight=dw, bias=db)
        return dx

    # -- what the layer is ---------------------------------------------------------------------
    @classmethod
    def from_word(cls, numbers, options, rng):
        """fc<N>: N outputs; /nobias."""
        return cls(int(numbers[0]), bias=not options.get("nobias", False))

    def cost(self, input_shape, output_shape):
        """D_out·D_in weights (+ D_out biases), D_in·D_out multiply-adds."""
        inputs = math.prod(input_shape)
        return Cost(self.units * inputs + (self.units if self.bias else 0), inputs * self.units, self.units)

    def describe(self):
        return f"fc {self.units}"

    def torch_modules(self):
        """nn.Linear, after an nn.Flatten when the input is a volume (both flatten in (D, H, W) order)."""
        linear = Module("Linear", dict(in_features=self.in_features, out_features=self.units,
                                       bias=self.parameter_data("bias") is not None), WEIGHT_AND_BIAS)
        return [Module("Flatten"), linear] if len(self.input_shape) > 1 else [linear]

    def to_onnx(self, graph, name, x):
        """Gemm (transB=1), after a Flatten when the input is a volume."""
        if len(self.input_shape) > 1:
            x = graph.node("Flatten", [x], f"{name}.flatten", axis=1)
        inputs = [x, graph.weight(f"{name}.weight", self.weight.data)]
        if self.parameter_data("bias") is not None:
            inputs.append(graph.weight(f"{name}.bias", self.bias.data))
        return graph.node("Gemm", inputs, name, transB=1)

    @classmethod
    def gradient_cases(cls):
        return (LayerCase("linear", lambda: cls(4), away_from_zero((4, 7))),
                LayerCase("linear on a volume", lambda: cls(5), away_from_zero(VOLUME)))


@register
class Flatten(Layer):
    """Lay each example out as one vector: (N, D, H, W) -> (N, D·H·W)."""

    word = Word("flatten", "flatten", "flatten", "flatten")

    def output_shape(self, input_shape):
        return (math.prod(input_shape),)

    def _forward(self, x):
        self.cache = x.shape
        return x.reshape(len(x), -1)

    def _backward(self, dout):
        return dout.reshape(self.cache)

    def cost(self, input_shape, output_shape):
        """A reshape: no work, and its output is a view of its input."""
        return Cost(0, 0, 0)

    def torch_modules(self):
        return [Module("Flatten")]

    def to_onnx(self, graph, name, x):
        return graph.node("Flatten", [x], name, axis=1)

    @classmethod
    def gradient_cases(cls):
        return (LayerCase("flatten", cls, away_from_zero(VOLUME)),)
