"""Layers: thin objects around volnet.ops that hold parameters, gradients and mode."""

from volnet.layers.activation import LeakyReLU, ReLU, Sigmoid, Tanh
from volnet.layers.base import Layer, Parameter, format_shape
from volnet.layers.conv import Conv2D
from volnet.layers.dropout import Dropout
from volnet.layers.linear import Flatten, Linear
from volnet.layers.loss import SoftmaxCrossEntropy, SVMLoss
from volnet.layers.normalization import BatchNorm
from volnet.layers.pool import AvgPool2D, GlobalAvgPool2D, MaxPool2D
from volnet.layers.residual import Residual
from volnet.layers.sequential import Sequential

__all__ = [
    "AvgPool2D", "BatchNorm", "Conv2D", "Dropout", "Flatten", "GlobalAvgPool2D", "Layer", "LeakyReLU", "Linear",
    "MaxPool2D", "Parameter", "ReLU", "Residual", "SVMLoss", "Sequential", "Sigmoid", "SoftmaxCrossEntropy", "Tanh",
    "format_shape",
]
