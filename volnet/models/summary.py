"""The cost of a model, layer by layer, in the spirit of the notes' VGGNet accounting.

For one example, each layer's row gives its output volume (W×H×D, as the notes write it),
its parameters, its multiply-adds and the numbers of its output (activation memory).
Everything is computed from the layers' configuration and shapes alone, so an unbuilt model
can be costed without allocating its weights (VGG-16's 138M parameters take 553 MB).

Conventions (one example, inference):
- parameters: learnable numbers only; batch norm's running statistics are counted apart.
- multiply-adds (a·b + c counts once):
      Conv2D      OH·OW·K·FH·FW·D/G    (each output number is one filter's dot product)
      Linear      D_in·D_out
      pooling     F·F per output number (each window number is visited once)
      global avg  D·H·W (each input number is added once)
      BatchNorm   1 per number (x·scale + shift, the running statistics folded in)
      ReLU, leaky ReLU, sigmoid, tanh   1 per number
      Residual    1 per number (the addition), besides its body's and shortcut's rows
      Flatten, Dropout   0 (a reshape; inference passes the input through)
  Biases add one addition per output number, which is not counted. FLOPs = 2 × multiply-adds.
- activation memory: every layer's output is a new array and counts once, Flatten's (a view
  of its input) excepted; the input counts too. Bytes are at the model's dtype. Training
  stores a gradient of the same size for each activation, so forward + backward takes
  ≈ 2 × the forward activation memory (the notes' "~×2 for the backward pass").
- layers unknown to this module show their built parameters and "?" multiply-adds, and are
  left out of the multiply-add total.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np

from volnet.layers import (AvgPool2D, BatchNorm, Conv2D, Dropout, Flatten, GlobalAvgPool2D, Layer, LeakyReLU, Linear,
                           MaxPool2D, Parameter, ReLU, Residual, Sequential, Sigmoid, Tanh, format_shape)

_ONE_PER_NUMBER = (ReLU, LeakyReLU, Sigmoid, Tanh, BatchNorm, Residual)


@dataclass
class LayerRow:
    """One row of the summary.

    Attributes:
        index: the layer's position: "3", "3.1" inside residual block 3, "3.shortcut" for its
            projection ("3.shortcut.1", "3.shortcut.2" when it is a conv and a batch norm); "" for
            the input.
        level: nesting depth (0 at the top), for indentation.
        layer: what the layer is, e.g. "Conv2D(filters=64, pad='same')".
        output_shape: the shape of one output example, (D, H, W) or (D,).
        parameters: learnable numbers.
        multiply_adds: per example (module doc); None for layer types this module does not know.
        activations: numbers of the output kept in memory per example.
        statistics: running statistics (batch norm's mean and variance), saved but not trained.
    """

    index: str
    level: int
    layer: str
    output_shape: tuple[int, ...]
    parameters: int
    multiply_adds: int | None
    activations: int
    statistics: int = 0


def _cost(layer: Layer, input_shape, output_shape) -> tuple[int, int | None]:
    """(parameters, multiply-adds) of one layer for one example, from shapes alone."""
    outputs = math.prod(output_shape)
    if isinstance(layer, Conv2D):
        (fh, fw), depth = layer.window, input_shape[0]
        weights = layer.filters * depth // layer.groups * fh * fw
        return weights + (layer.filters if layer.bias else 0), outputs * fh * fw * depth // layer.groups
    if isinstance(layer, Linear):
        inputs = math.prod(input_shape)
        return layer.units * inputs + (layer.units if layer.bias else 0), inputs * layer.units
    if isinstance(layer, BatchNorm):
        return 2 * input_shape[0], outputs
    if isinstance(layer, (MaxPool2D, AvgPool2D)):
        return 0, outputs * math.prod(layer.window)
    if isinstance(layer, GlobalAvgPool2D):
        return 0, math.prod(input_shape)
    if isinstance(layer, _ONE_PER_NUMBER):
        return 0, outputs
    if isinstance(layer, (Flatten, Dropout)):
        return 0, 0
    own = [value for value in vars(layer).values() if isinstance(value, Parameter) and value.trainable]
    return sum(p.data.size for p in own), None


def _walk(layer: Layer, shape, index: str, level: int, rows: list[LayerRow]):
    """Append the rows of `layer` (and of the layers inside it); return its output shape."""
    if isinstance(layer, Sequential):
        for position, child in enumerate(layer.layers, start=1):
            shape = _walk(child, shape, f"{index}.{position}" if index else str(position), level, rows)
        return shape
    output_shape = layer.output_shape(shape)
    parameters, multiply_adds = _cost(layer, shape, output_shape)
    if isinstance(layer, Residual):
        name = f"Residual (body + {'projection' if layer.projection else 'identity'})"
    elif isinstance(layer, Dropout):
        name = f"Dropout(rate={layer.rate:g})"  # its seed says how it draws, not what it computes
    else:
        name = repr(layer)
    activations = 0 if isinstance(layer, Flatten) else math.prod(output_shape)
    statistics = 2 * shape[0] if isinstance(layer, BatchNorm) else 0
    rows.append(LayerRow(index, level, name, tuple(output_shape), parameters, multiply_adds, activations, statistics))
    if isinstance(layer, Residual):
        _walk(layer.body, shape, index, level + 1, rows)
        if layer.projection is not None:
            _walk(layer.projection, shape, f"{index}.shortcut", level + 1, rows)
    return output_shape


def _input_shape(model: Layer, input_shape):
    if isinstance(model, str):
        raise TypeError("summary_rows takes a model; summary() also takes a preset name or an architecture string")
    if not isinstance(model, Layer):
        raise TypeError(f"summary takes a model (a Layer such as Sequential), got {type(model).__name__}")
    if input_shape is None:
        if not model.built:
            raise ValueError("summary needs input_shape, the (D, H, W) of one example, for a model that is not "
                             "built yet; e.g. summary(model, input_shape=(3, 224, 224))")
        return model.input_shape
    return tuple(int(s) for s in input_shape)


def summary_rows(model: Layer, input_shape=None) -> list[LayerRow]:
    """The rows of the summary: the input first, then every layer, residual bodies nested.

    Args:
        model: a Sequential (or any Layer), built or not.
        input_shape: (D, H, W) of one example; defaults to the built model's.

    Raises:
        ValueError: no input shape for an unbuilt model, or a layer that does not fit its input.
    """
    shape = _input_shape(model, input_shape)
    rows = [LayerRow("", 0, "input", shape, 0, 0, math.prod(shape))]
    _walk(model if isinstance(model, Sequential) else Sequential([model]), shape, "", 0, rows)
    return rows


def summary_totals(model: Layer, input_shape=None) -> dict:
    """The totals of the summary, for one example.

    Returns:
        parameters, parameter_bytes; running_statistics (batch norm's, not trained);
        activations (numbers), activation_bytes (forward), training_activation_bytes
        (forward + backward, 2×); multiply_adds and flops (2 × multiply-adds), which leave out
        layers this module does not know; dtype.
    """
    return _totals(summary_rows(model, input_shape), np.dtype(model.dtype))


def _totals(rows: list[LayerRow], dtype: np.dtype) -> dict:
    itemsize = dtype.itemsize
    statistics = sum(row.statistics for row in rows)
    parameters = sum(row.parameters for row in rows)
    activations = sum(row.activations for row in rows)
    multiply_adds = sum(row.multiply_adds or 0 for row in rows)
    return {
        "parameters": parameters, "parameter_bytes": parameters * itemsize, "running_statistics": statistics,
        "activations": activations, "activation_bytes": activations * itemsize,
        "training_activation_bytes": 2 * activations * itemsize,
        "multiply_adds": multiply_adds, "flops": 2 * multiply_adds, "dtype": str(dtype),
    }


def _bytes(count: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if count < 1024 or unit == "GiB":
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1024


def _large(count: int) -> str:
    """1234567 -> '1.23M'."""
    for unit, size in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if count >= size:
            return f"{count / size:.3g}{unit}"
    return str(count)


def summary(model: Layer, input_shape=None) -> str:
    """A table of the model's layers and its totals (conventions in the module doc).

    The layers inside a residual block are indented under it; those of its projection shortcut
    are numbered 3.s1, 3.s2, ... (LayerRow.index 3.shortcut.1, ...) and marked "shortcut:".

    Args:
        model: a Sequential (or any Layer), built or not; or a preset name ("tiny") or an
            architecture string, built for input_shape (a preset's own by default).
        input_shape: (D, H, W) of one example; defaults to the built model's.

    Example:
        >>> print(summary("tiny"))  # doctest: +SKIP
        >>> from volnet.models import build_model
        >>> print(summary(build_model("conv3-8 relu pool fc10", input_shape=(1, 8, 8))))
        #  layer                          output  params  mult-adds  activations   memory
           input                          8×8×1        0          0           64    256 B
        1  Conv2D(filters=8, pad='same')  8×8×8       80      4,608          512  2.0 KiB
        2  ReLU()                         8×8×8        0        512          512  2.0 KiB
        3  MaxPool2D()                    4×4×8        0        512          128    512 B
        4  Linear(units=10)               10       1,290      1,280           10     40 B
        <BLANKLINE>
        parameters: 1,370 (5.4 KiB as float32)
        activations per example: 1,226 numbers = 4.8 KiB forward, ≈ 9.6 KiB forward + backward (×2)
        multiply-adds per example: 6.91k = 13.8k FLOPs
    """
    if isinstance(model, str):  # a preset name or an architecture string, as `volnet summary` takes them
        from volnet.models.architecture import build_model

        model = build_model(model, input_shape=input_shape)
    rows = summary_rows(model, input_shape)
    totals = _totals(rows, np.dtype(model.dtype))
    itemsize = np.dtype(model.dtype).itemsize
    table = [("#", "layer", "output", "params", "mult-adds", "activations", "memory")]
    for row in rows:
        index, shortcut = re.subn(r"\.shortcut\.?", ".s", row.index)
        layer = "  " * row.level + ("shortcut: " if shortcut else "") + row.layer
        table.append((index, layer, format_shape(row.output_shape), f"{row.parameters:,}",
                      "?" if row.multiply_adds is None else f"{row.multiply_adds:,}", f"{row.activations:,}",
                      _bytes(row.activations * itemsize)))
    widths = [max(len(line[column]) for line in table) for column in range(len(table[0]))]
    lines = ["  ".join(cell.ljust(width) if column < 3 else cell.rjust(width)
                       for column, (cell, width) in enumerate(zip(line, widths))).rstrip() for line in table]
    dtype = totals["dtype"]
    lines += [
        "",
        f"parameters: {totals['parameters']:,} ({_bytes(totals['parameter_bytes'])} as {dtype})"
        + (f"; running statistics: {totals['running_statistics']:,}" if totals["running_statistics"] else ""),
        (f"activations per example: {totals['activations']:,} numbers = {_bytes(totals['activation_bytes'])} "
         f"forward, ≈ {_bytes(totals['training_activation_bytes'])} forward + backward (×2)"),
        f"multiply-adds per example: {_large(totals['multiply_adds'])} = {_large(totals['flops'])} FLOPs",
    ]
    return "\n".join(lines)
