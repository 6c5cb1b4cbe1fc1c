"""The receptive field of one neuron of any layer of a model: the layers' own windows composed
along the path an input takes to it.

Each layer says what it does to the field (Layer.field_through): through a window of F
(F_eff = d·(F − 1) + 1 when dilated), stride S and padding P, with j the input distance
between neighbouring positions so far,

    size  r ← r + (F_eff − 1)·j          start ← start − P·j          j ← j·S

from r = j = 1, start = 0 at the input (volnet.ops.geometry.ReceptiveField); output (i, ·)
then sees input rows start + i·j … start + i·j + r − 1 (cut at the edges). Elementwise layers
change nothing; a residual block's output sees the union of its body's and its shortcut's
fields; after global pooling or a fully-connected layer a neuron sees the whole input.
The summary's field and jump columns, `volnet show receptive-field` and `volnet explain
neurons` all come from here.
"""

from __future__ import annotations

from volnet.layers import Layer, Sequential
from volnet.ops.geometry import ReceptiveField2D


def field_along(layers, field: ReceptiveField2D = ReceptiveField2D()) -> ReceptiveField2D:
    """The field of one output neuron of the last of `layers` (in forward order), relative to
    the volume that enters the first; `field` is that of one neuron of that volume."""
    for layer in layers:
        field = layer.field_through(field)
    return field


def layer_path(model: Layer, target: Layer) -> list[Layer]:
    """The layers an input goes through, in order, up to and including `target`: the blocks
    that contain target are entered (its body, or its projection shortcut).

    Raises:
        ValueError: target is not a layer of model.
    """
    if model is target:
        return [model]

    def holds(layer):
        return any(inner is target for _, inner in layer.named_layers())

    if isinstance(model, Sequential):  # a chain: the layers before the one that holds target, then into it
        before = []
        for step in model.layers:
            if holds(step):
                return before + layer_path(step, target)
            before.append(step)
    for _, part in model.summary_parts():  # a block (Layer.summary_parts): into the part that holds target
        if holds(part):
            return layer_path(part, target)
    raise ValueError(f"{target.label()} is not a layer of {model.label()}")


def receptive_field(model: Layer, layer: Layer) -> ReceptiveField2D:
    """The receptive field in the model's input of one output neuron of `layer`, a layer inside `model`."""
    return field_along(layer_path(model, layer))
