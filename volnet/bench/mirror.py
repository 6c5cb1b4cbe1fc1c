"""The same network in PyTorch: a torch.nn copy of a volnet model, weights included.

Each volnet layer says which torch.nn modules compute the same function (Layer.torch_modules,
a list of volnet.layers.twin.Module), laid out as a PyTorch user writes them: inside a
Sequential the modules stand flat, one after another, and the volnet layers that do two things
become two modules — Linear flattens a volume itself, so a Linear on a volume is nn.Flatten()
then nn.Linear (both flatten in (D, H, W) order); GlobalAvgPool2D is nn.AdaptiveAvgPool2d(1)
then nn.Flatten(). A Residual becomes a `ResidualBlock` with the same `body` and `projection`.
BatchNorm's gamma and beta are PyTorch's weight and bias.

`torch_layout` says which modules, as names and arguments, without importing torch, so
that `torch_state_dict` gives a model's arrays under the names the twin's state_dict uses
(volnet.interop writes safetensors files from it with NumPy alone); `to_torch` builds the
twin and loads that state dict into it with strict=True. The benchmark times the twin
against volnet; the interop tests check that the two compute the same scores.
"""

from __future__ import annotations

import functools

import numpy as np

from volnet import layers
from volnet.layers.registry import layer_types
from volnet.layers.twin import BATCHES_TRACKED, Module


def torch_layout(layer):
    """The twin of a built volnet layer, as data: a list of Modules for a Sequential (flat, as
    above, with a nested list for each Residual), ("Residual", body, projection) for a
    Residual, and a Module or list of Modules for any other layer.

    Raises:
        TypeError: a layer with no torch.nn counterpart (the message names it).
    """
    if isinstance(layer, layers.Sequential):
        laid_out = []
        for child in layer.layers:
            inner = torch_layout(child)
            # a leaf's modules are spliced in; a Sequential or Residual inside stays one module
            laid_out.extend(inner if isinstance(inner, list) and not _is_composite(child) else [inner])
        return laid_out
    if isinstance(layer, layers.Residual):
        projection = None if layer.projection is None else torch_layout(layer.projection)
        return ("Residual", torch_layout(layer.body), projection)
    if layer.torch_modules is None:
        twins = sorted(name for name, kind in layer_types().items() if kind.torch_modules is not None)
        raise TypeError(f"{layer.label()} has no PyTorch counterpart in volnet (layers with one: "
                        f"{', '.join(twins)}, Sequential, Residual)")
    if not layer.built:
        raise ValueError(f"{layer.label()} is not built; build the model (model.build(input_shape)) first")
    modules = layer.torch_modules()
    return modules[0] if len(modules) == 1 else modules


def _is_composite(layer) -> bool:
    return isinstance(layer, (layers.Sequential, layers.Residual))


def _named_arrays(layer, volnet_prefix: str, torch_prefix: str, first: int | None = None):
    """(volnet state name, state_dict key, array) for every array of the twin of `layer`;
    the volnet name is None for num_batches_tracked. `first`: the position in the parent
    nn.Sequential of the layer's first module, when its modules are spliced into one."""
    if isinstance(layer, layers.Sequential):
        position = 0
        for index, child in enumerate(layer.layers):
            if _is_composite(child):
                yield from _named_arrays(child, f"{volnet_prefix}{index}.", f"{torch_prefix}{position}.")
                position += 1
            else:
                yield from _named_arrays(child, f"{volnet_prefix}{index}.", torch_prefix, first=position)
                position += len(_leaf_modules(child))
        return
    if isinstance(layer, layers.Residual):
        yield from _named_arrays(layer.body, volnet_prefix + "body.", torch_prefix + "body.")
        if layer.projection is not None:
            yield from _named_arrays(layer.projection, volnet_prefix + "projection.", torch_prefix + "projection.")
        return
    modules = _leaf_modules(layer)
    for position, module in enumerate(modules):
        if first is not None:
            where = f"{torch_prefix}{first + position}."
        else:  # on its own, a layer of several modules is an nn.Sequential of them
            where = torch_prefix + (f"{position}." if len(modules) > 1 else "")
        for volnet_name, torch_name in module.names.items():
            if torch_name == BATCHES_TRACKED:
                # volnet does not count batches; PyTorch reads the count only when momentum is None
                yield None, where + torch_name, np.array(0, dtype=np.int64)
            elif layer.parameter_data(volnet_name) is not None:
                yield volnet_prefix + volnet_name, where + torch_name, layer.parameter_data(volnet_name)


def _leaf_modules(layer) -> list[Module]:
    laid_out = torch_layout(layer)
    return laid_out if isinstance(laid_out, list) else [laid_out]


def torch_names(model) -> dict[str, str]:
    """Each array of model.state() by volnet name -> its key in the twin's state_dict,
    e.g. {"0.weight": "0.weight", "6.weight": "7.weight", "1.gamma": "1.weight"}."""
    return {volnet_name: key for volnet_name, key, _ in _named_arrays(model, "", "") if volnet_name is not None}


def torch_state_dict(model) -> dict[str, np.ndarray]:
    """The twin's state_dict as NumPy arrays, without torch: every parameter and running
    statistic under PyTorch's name, plus num_batches_tracked (0) for each batch norm."""
    return {key: array for _, key, array in _named_arrays(model, "", "")}


@functools.cache
def residual_block():
    """The torch.nn.Module class of a Residual's twin: out = body(x) + (projection(x) or x)."""
    import torch

    class ResidualBlock(torch.nn.Module):
        def __init__(self, body, projection=None):
            super().__init__()
            self.body, self.projection = body, projection

        def forward(self, x):
            return self.body(x) + (x if self.projection is None else self.projection(x))

    return ResidualBlock


def _build(laid_out, nn):
    if isinstance(laid_out, Module):
        return getattr(nn, laid_out.kind)(**laid_out.arguments)
    if isinstance(laid_out, tuple):
        _, body, projection = laid_out
        return residual_block()(_build(body, nn), None if projection is None else _build(projection, nn))
    return nn.Sequential(*(_build(inner, nn) for inner in laid_out))


def to_torch(model):
    """A torch.nn.Module computing the same function as a built volnet layer or model, holding
    its weights and running statistics (in the model's dtype).

    Raises:
        TypeError: for a layer with no torch.nn counterpart.
    """
    import torch
    from torch import nn

    twin = _build(torch_layout(model), nn).to(torch.float64 if model.dtype == np.float64 else torch.float32)
    state = {key: torch.from_numpy(np.array(array)) for key, array in torch_state_dict(model).items()}
    twin.load_state_dict(state, strict=True)
    return twin
