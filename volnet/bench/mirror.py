"""The same network in PyTorch: a torch.nn copy of a volnet model, weights included.

The benchmark times volnet and PyTorch on the same computation, so each volnet layer maps
to the torch.nn module that computes the same function (volnet's Linear flattens a volume
in (D, H, W) order, as torch.nn.Flatten does). Only the benchmark imports torch.
"""

from __future__ import annotations

import numpy as np

from volnet import layers


def _tensor(array):
    import torch

    return torch.from_numpy(np.ascontiguousarray(array))


def _copy(target, source):
    import torch

    with torch.no_grad():
        target.copy_(_tensor(source))


def _conv(layer, nn):
    module = nn.Conv2d(layer.in_depth, layer.filters, layer.window, layer.strides, layer.pads, layer.dilations,
                       layer.groups, bias=layer.parameter_data("bias") is not None)
    _copy(module.weight, layer.weight.data)
    if module.bias is not None:
        _copy(module.bias, layer.bias.data)
    return module


def _linear(layer, nn):
    module = nn.Linear(layer.in_features, layer.units, bias=layer.parameter_data("bias") is not None)
    _copy(module.weight, layer.weight.data)
    if module.bias is not None:
        _copy(module.bias, layer.bias.data)
    flatten = layer.input_shape is not None and len(layer.input_shape) > 1
    return nn.Sequential(nn.Flatten(), module) if flatten else module


def _batchnorm(layer, nn):
    kind = nn.BatchNorm2d if len(layer.input_shape) == 3 else nn.BatchNorm1d
    module = kind(len(layer.gamma.data), eps=layer.eps, momentum=layer.momentum)
    for name, source in (("weight", layer.gamma), ("bias", layer.beta), ("running_mean", layer.running_mean),
                         ("running_var", layer.running_var)):
        _copy(getattr(module, name), source.data)
    return module


def _residual(layer, nn):
    import torch

    class ResidualModule(torch.nn.Module):
        def __init__(self, body, projection):
            super().__init__()
            self.body, self.projection = body, projection

        def forward(self, x):
            return self.body(x) + (self.projection(x) if self.projection is not None else x)

    projection = to_torch(layer.projection) if layer.projection is not None else None
    return ResidualModule(to_torch(layer.body), projection)


def to_torch(model):
    """A torch.nn.Module computing the same function as a built volnet layer or model.

    Raises:
        TypeError: for a layer with no torch.nn counterpart here.
    """
    from torch import nn

    pool = lambda layer, kind: kind(layer.window, layer.strides, layer.pads)
    builders = {
        layers.Sequential: lambda layer: nn.Sequential(*(to_torch(inner) for inner in layer.layers)),
        layers.Conv2D: lambda layer: _conv(layer, nn),
        layers.Linear: lambda layer: _linear(layer, nn),
        layers.BatchNorm: lambda layer: _batchnorm(layer, nn),
        layers.Residual: lambda layer: _residual(layer, nn),
        layers.ReLU: lambda layer: nn.ReLU(),
        layers.LeakyReLU: lambda layer: nn.LeakyReLU(layer.slope),
        layers.Sigmoid: lambda layer: nn.Sigmoid(),
        layers.Tanh: lambda layer: nn.Tanh(),
        layers.MaxPool2D: lambda layer: pool(layer, nn.MaxPool2d),
        layers.AvgPool2D: lambda layer: pool(layer, nn.AvgPool2d),
        layers.GlobalAvgPool2D: lambda layer: nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten()),
        layers.Dropout: lambda layer: nn.Dropout(layer.rate),
        layers.Flatten: lambda layer: nn.Flatten(),
    }
    builder = next((build for kind, build in builders.items() if isinstance(model, kind)), None)
    if builder is None:
        raise TypeError(f"the benchmark has no PyTorch counterpart for {model.label()}")
    return builder(model)
