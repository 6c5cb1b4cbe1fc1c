"""Elementwise activation layers: no parameters, the output has the input's shape."""

from __future__ import annotations

from volnet.layers.base import Layer
from volnet.ops import activation as ops


class _Elementwise(Layer):
    """Calls forward_op(x, **hyperparameters) and backward_op(dout, cache)."""

    forward_op = backward_op = None

    def forward(self, x):
        out, self.cache = type(self).forward_op(self.check_input(x), **self.config())
        return out

    def backward(self, dout):
        return type(self).backward_op(dout, self.cache)


class ReLU(_Elementwise):
    """max(0, x), elementwise."""

    forward_op, backward_op = ops.relu_forward, ops.relu_backward


class LeakyReLU(_Elementwise):
    """x for x > 0, slope·x otherwise."""

    forward_op, backward_op = ops.leaky_relu_forward, ops.leaky_relu_backward

    def __init__(self, slope: float = 0.01):
        super().__init__()
        self.slope = slope


class Sigmoid(_Elementwise):
    """1 / (1 + e^−x), elementwise."""

    forward_op, backward_op = ops.sigmoid_forward, ops.sigmoid_backward


class Tanh(_Elementwise):
    """tanh(x), elementwise."""

    forward_op, backward_op = ops.tanh_forward, ops.tanh_backward
