"""Elementwise activation layers: no parameters, the output has the input's shape."""

from __future__ import annotations

from volnet.gradients.numerical import VOLUME, LayerCase, away_from_zero
from volnet.layers.base import Layer
from volnet.layers.cost import one_per_number
from volnet.layers.pool import MaxPool2D
from volnet.layers.registry import register
from volnet.layers.twin import Module
from volnet.layers.words import NUMBER, Word
from volnet.ops import activation as ops


class _Elementwise(Layer):
    """Calls forward_op(x, **hyperparameters) and backward_op(dout, cache); one multiply-add per
    number; its twin is torch.nn.<torch_kind>() and its ONNX node <onnx_op>."""

    forward_op = backward_op = None
    torch_kind = onnx_op = None
    elementwise = True

    def _forward(self, x):
        out, self.cache = type(self).forward_op(x, **self.config())
        return out

    def _backward(self, dout):
        return type(self).backward_op(dout, self.cache)

    def cost(self, input_shape, output_shape):
        return one_per_number(output_shape)

    def torch_modules(self):
        return [Module(self.torch_kind)]

    def to_onnx(self, graph, name, x):
        return graph.node(self.onnx_op, [x], name)

    @classmethod
    def gradient_cases(cls):
        return (LayerCase(cls.word.name, cls, away_from_zero(VOLUME)),)


@register
class ReLU(_Elementwise):
    """max(0, x), elementwise."""

    forward_op, backward_op = ops.relu_forward, ops.relu_backward
    torch_kind, onnx_op = "ReLU", "Relu"
    word = Word("relu", "relu", "relu", "relu")

    def absorbs(self, following):
        """Max pooling after a ReLU: max(0, ·) commutes with the windows' maximum, so the pair pools
        first and rectifies the F·F times smaller output (the same numbers; the gradient too, since
        a window whose maximum is not positive gives its inputs 0 either way)."""
        return isinstance(following, MaxPool2D)

    def _forward_absorbing(self, x, pool):
        return self._forward(pool._forward(x))

    def _backward_absorbing(self, dout, pool):
        return pool._backward(self._backward(dout))

    def to_convnetjs(self, net):
        net.elementwise("relu")


@register
class LeakyReLU(_Elementwise):
    """x for x > 0, slope·x otherwise."""

    forward_op, backward_op = ops.leaky_relu_forward, ops.leaky_relu_backward
    word = Word("lrelu", f"lrelu{NUMBER}?", "lrelu or lrelu<slope>, e.g. lrelu0.1", "lrelu")

    def __init__(self, slope: float = 0.01):
        super().__init__()
        self.slope = slope

    @classmethod
    def from_word(cls, numbers, options, rng):
        """lrelu<slope>, the slope 0.01 by default."""
        return cls(float(numbers[0] or 0.01))

    def describe(self):
        return f"leaky relu {self.slope:g}"

    def torch_modules(self):
        return [Module("LeakyReLU", {"negative_slope": self.slope})]

    def to_onnx(self, graph, name, x):
        return graph.node("LeakyRelu", [x], name, alpha=float(self.slope))

    @classmethod
    def gradient_cases(cls):
        return (LayerCase("leaky relu", lambda: cls(0.1), away_from_zero(VOLUME)),)


@register
class Sigmoid(_Elementwise):
    """1 / (1 + e^−x), elementwise."""

    forward_op, backward_op = ops.sigmoid_forward, ops.sigmoid_backward
    torch_kind, onnx_op = "Sigmoid", "Sigmoid"
    word = Word("sigmoid", "sigmoid", "sigmoid", "sigmoid")

    def to_convnetjs(self, net):
        net.elementwise("sigmoid")


@register
class Tanh(_Elementwise):
    """tanh(x), elementwise."""

    forward_op, backward_op = ops.tanh_forward, ops.tanh_backward
    torch_kind, onnx_op = "Tanh", "Tanh"
    word = Word("tanh", "tanh", "tanh", "tanh")

    def to_convnetjs(self, net):
        net.elementwise("tanh")
