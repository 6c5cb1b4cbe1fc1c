"""The fully-connected layer and Flatten."""

from __future__ import annotations

import math

import numpy as np

from volnet.layers.base import Layer, Parameter
from volnet.ops.linear import linear_backward, linear_forward


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

    def forward(self, x):
        x = self.check_input(x)
        out, self.cache = linear_forward(x, self.weight.data, self.parameter_data("bias"))
        return out

    def backward(self, dout):
        dx, dw, db = linear_backward(dout, self.cache)
        self._accumulate(weight=dw, bias=db)
        return dx


class Flatten(Layer):
    """Lay each example out as one vector: (N, D, H, W) -> (N, D·H·W)."""

    def output_shape(self, input_shape):
        return (math.prod(input_shape),)

    def forward(self, x):
        x = self.check_input(x)
        self.cache = x.shape
        return x.reshape(len(x), -1)

    def backward(self, dout):
        return dout.reshape(self.cache)
