"""Layers: thin objects around volnet.ops that hold parameters, gradients and mode, and say what
they are (their word, config, cost, drawing, twin, gradient cases; see Layer).

Importing a module registers its layer types (volnet.layers.registry), in this order: the
order of `volnet gradcheck`'s cases and of the words in architecture-string errors.
"""

from volnet.layers.conv import Conv2D
from volnet.layers.pool import AvgPool2D, GlobalAvgPool2D, MaxPool2D
from volnet.layers.conv_transpose import ConvTranspose2D
from volnet.layers.linear import Flatten, Linear
from volnet.layers.activation import LeakyReLU, ReLU, Sigmoid, Tanh
from volnet.layers.normalization import BatchNorm
from volnet.layers.dropout import Dropout
from volnet.layers.residual import Residual
from volnet.layers.sequential import Sequential
from volnet.layers.base import Buffer, Layer, Parameter, format_shape
from volnet.layers.loss import SoftmaxCrossEntropy, SVMLoss
from volnet.layers.registry import layer_types, register

__all__ = [
    "AvgPool2D", "BatchNorm", "Buffer", "Conv2D", "ConvTranspose2D", "Dropout", "Flatten", "GlobalAvgPool2D", "Layer", "LeakyReLU",
    "Linear", "MaxPool2D", "Parameter", "ReLU", "Residual", "SVMLoss", "Sequential", "Sigmoid",
    "SoftmaxCrossEntropy", "Tanh", "format_shape", "layer_types", "register",
]
