"""volnet: convolutional neural networks from first principles.

A ConvNet is a sequence of layers; each transforms an input volume (N, D, H, W) into an
output volume through a differentiable function. Every layer has a readable reference op
and a fast matrix op (volnet.ops), and every backward pass is checked (volnet.gradients.numerical).
"""

from volnet.errors import SettingError
from volnet.layers import (AvgPool2D, BatchNorm, Conv2D, Dropout, Flatten, GlobalAvgPool2D, Layer, LeakyReLU, Linear,
                           MaxPool2D, Parameter, ReLU, Residual, Sequential, Sigmoid, SoftmaxCrossEntropy, SVMLoss,
                           Tanh)
from volnet.layers import ConvTranspose2D
from volnet.models import build_model, load_model, save_model, summary
from volnet.ops.geometry import output_size

__version__ = "0.1.0"
