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
- a layer says its own cost (Layer.cost, a volnet.layers.cost.Cost) by these conventions;
  one that does not shows its built parameters and "?" multiply-adds, and is left out of the
  multiply-add total.
- receptive field: how much of the input one neuron of the layer sees (r×r) and how far
  apart in the input two neighbouring neurons look (the jump j), r ← r + (F_eff − 1)·j,
  j ← j·S through every conv and pooling layer, the union of both paths through a residual
  block (each layer's field_through, composed as volnet.models.receptive_field says);
  "all" after a fully-connected layer or global pooling.
- parameter sharing (the notes' words): all neurons of one depth slice (activation map)
  use the same filter, so a conv layer has (F·F·D + 1)·K parameters; without sharing every
  one of the OH·OW neurons of a slice would need its own, (F·F·D + 1)·K·OH·OW, and a
  fully-connected layer from the same input to the same output volume would need
  (W·H·D + 1)·OW·OH·K (see ParameterSharing).
"""

from __future__ import annotations

import math
import textwrap
from dataclasses import dataclass

import numpy as np

from volnet.layers import Layer, Sequential, format_shape
from volnet.layers.cost import ParameterSharing
from volnet.models.numbering import layer_number
from volnet.ops.geometry import ReceptiveField2D


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
        multiply_adds: per example (module doc); None for a layer that does not say.
        activations: numbers of the output kept in memory per example.
        statistics: running statistics (batch norm's mean and variance), saved but not trained.
        field: the receptive field of one of its neurons, (along the height, along the width).
        sharing: for a conv layer, its parameter count with and without parameter sharing
            (volnet.layers.cost.ParameterSharing).
        window: for a sliding-window layer, (F, S, P) as (height, width) pairs.
        input_shape: the shape of one input example of the layer.
        layer_object: the Layer itself (None for the input row).
    """

    index: str
    level: int
    layer: str
    output_shape: tuple[int, ...]
    parameters: int
    multiply_adds: int | None
    activations: int
    statistics: int = 0
    field: ReceptiveField2D = ReceptiveField2D()
    sharing: "ParameterSharing | None" = None
    window: tuple | None = None
    input_shape: tuple[int, ...] = ()
    layer_object: Layer | None = None

    @property
    def number(self) -> str:
        """The layer's number as the summary, the pictures and `volnet show ... --layer` write it:
        "3", "3.1" inside block 3, "3.s1" for the first layer of its shortcut."""
        return layer_number(self.index)


def _walk(layer: Layer, shape, field, index: str, level: int, rows: list[LayerRow]):
    """Append the rows of `layer` (and of the layers inside it); return its output shape and the
    receptive field of one of its neurons."""
    if isinstance(layer, Sequential):
        for position, child in enumerate(layer.layers, start=1):
            shape, field = _walk(child, shape, field, f"{index}.{position}" if index else str(position), level, rows)
        return shape, field
    output_shape = layer.output_shape(shape)
    cost = layer.cost(shape, output_shape)
    window = ((tuple(layer.window), tuple(layer.strides), tuple(layer.pads))
              if getattr(layer, "window", None) is not None else None)
    row = LayerRow(index, level, layer.summary_name(), tuple(output_shape), cost.parameters, cost.multiply_adds,
                   cost.activations, cost.statistics, sharing=layer.sharing(shape, output_shape), window=window,
                   input_shape=tuple(shape), layer_object=layer)
    rows.append(row)
    for suffix, part in layer.summary_parts():
        _walk(part, shape, field, index + suffix, level + 1, rows)
    row.field = layer.field_through(field)
    return output_shape, row.field


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
    _walk(model if isinstance(model, Sequential) else Sequential([model]), shape, rows[0].field, "", 0, rows)
    return rows


def find_row(rows: list[LayerRow], number: str, wanted: str = "layer") -> LayerRow:
    """The row of layer `number` ("3", "3.1", "3.s1"; "3.shortcut.1" also works), as the summary numbers them.

    Raises:
        ValueError: no such layer, naming the numbers there are (only those that are a `wanted`
            when wanted is "conv layer").
    """
    number = layer_number(number)
    candidates = [row for row in rows[1:] if wanted != "conv layer" or row.sharing is not None]
    for row in candidates:
        if row.number == number:
            return row
    listed = ", ".join(row.number for row in candidates) or "none"
    raise ValueError(f"--layer {number}: the model has no {wanted} {number}; its {wanted}s, numbered as "
                     f"`volnet summary` numbers them, are: {listed}")


def summary_totals(model: Layer, input_shape=None) -> dict:
    """The totals of the summary, for one example.

    Returns:
        parameters, parameter_bytes; running_statistics (batch norm's, not trained);
        activations (numbers), activation_bytes (forward), training_activation_bytes
        (forward + backward, 2×); multiply_adds and flops (2 × multiply-adds), which leave out
        layers that do not say theirs; dtype.
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


def _pair_text(pair) -> str:
    """(height, width) as the notes write sizes: "3" when equal, else W×H "5×3"."""
    height, width = pair
    return str(height) if height == width else f"{width}×{height}"


def _field_text(field) -> tuple[str, str]:
    """The receptive-field and jump cells of a row: "5×5", "2"; "all", "—" once global."""
    height, width = field
    if height.whole:
        return "all", "—"
    return field.size_text(), _pair_text((height.jump, width.jump))


def _aligned(table, left_columns: int) -> list[str]:
    widths = [max(len(line[column]) for line in table) for column in range(len(table[0]))]
    return ["  ".join(cell.ljust(width) if column < left_columns else cell.rjust(width)
                      for column, (cell, width) in enumerate(zip(line, widths))).rstrip() for line in table]


def sharing_lines(rows: list[LayerRow]) -> list[str]:
    """The parameter-sharing section of the summary: each conv layer's count as (F·F·D + 1)·K
    beside what it would be without sharing and fully connected; [] without conv layers."""
    convs = [row for row in rows if row.sharing is not None]
    if not convs:
        return []
    table = [("#", "parameter sharing: (F·F·D + 1)·K", "without sharing: × OH·OW", "fully connected: (W·H·D + 1)·OW·OH·K")]
    table += [(row.number, *row.sharing.formulas()) for row in convs]
    first, shape = convs[0].sharing, rows[0].output_shape
    (fh, fw) = first.filter_size
    about = ("Parameter sharing: the OH·OW neurons of one depth slice (activation map) share one filter; the K "
             "neurons of a depth column look at the same receptive field with different filters.")
    example = (f"One fully-connected neuron on the {format_shape(shape)} input would have {first.inputs:,} weights "
               f"(the notes' 200×200×3 image: 120,000); a neuron of conv {convs[0].number} has {fh}·{fw}·{first.depth}"
               f" = {fh * fw * first.depth:,}, shared by the {first.positions:,} positions of its activation map.")
    return ["", *textwrap.wrap(about, 100), *_aligned(table, len(table[0])), *textwrap.wrap(example, 100)]


def summary(model: Layer, input_shape=None) -> str:
    """A table of the model's layers and its totals (conventions in the module doc).

    The layers inside a residual block are indented under it; those of its projection shortcut
    are numbered 3.s1, 3.s2, ... (LayerRow.index 3.shortcut.1, ...) and marked "shortcut:".
    F, S, P are the filter (or pooling window) size, stride and padding ('same' resolved);
    "field" and "jump" are the receptive field of one neuron in the input and the input
    distance between neighbouring neurons. Below the totals, each conv layer's parameter count
    with and without parameter sharing.

    Args:
        model: a Sequential (or any Layer), built or not; or a preset name ("tiny") or an
            architecture string, built for input_shape (a preset's own by default).
        input_shape: (D, H, W) of one example; defaults to the built model's.

    Example:
        >>> print(summary("tiny"))  # doctest: +SKIP
        >>> from volnet.models import build_model
        >>> print(summary(build_model("conv3-8 relu pool fc10", input_shape=(1, 8, 8))))
        #  layer                          output  F, S, P  field  jump  params  mult-adds  activations   memory
           input                          8×8×1              1×1     1       0          0           64    256 B
        1  Conv2D(filters=8, pad='same')  8×8×8   3, 1, 1    3×3     1      80      4,608          512  2.0 KiB
        2  ReLU()                         8×8×8              3×3     1       0        512          512  2.0 KiB
        3  MaxPool2D()                    4×4×8   2, 2, 0    4×4     2       0        512          128    512 B
        4  Linear(units=10)               10                 all     —   1,290      1,280           10     40 B
        <BLANKLINE>
        parameters: 1,370 (5.4 KiB as float32)
        activations per example: 1,226 numbers = 4.8 KiB forward, ≈ 9.6 KiB forward + backward (×2)
        multiply-adds per example: 6.91k = 13.8k FLOPs
        <BLANKLINE>
        Parameter sharing: the OH·OW neurons of one depth slice (activation map) share one filter; the K
        neurons of a depth column look at the same receptive field with different filters.
        #  parameter sharing: (F·F·D + 1)·K  without sharing: × OH·OW  fully connected: (W·H·D + 1)·OW·OH·K
        1  (3·3·1 + 1)·8 = 80                80·64 = 5,120             (64 + 1)·512 = 33,280
        One fully-connected neuron on the 8×8×1 input would have 64 weights (the notes' 200×200×3 image:
        120,000); a neuron of conv 1 has 3·3·1 = 9, shared by the 64 positions of its activation map.
    """
    if isinstance(model, str):  # a preset name or an architecture string, as `volnet summary` takes them
        from volnet.models.architecture import build_model

        model = build_model(model, input_shape=input_shape)
    rows = summary_rows(model, input_shape)
    totals = _totals(rows, np.dtype(model.dtype))
    itemsize = np.dtype(model.dtype).itemsize
    table = [("#", "layer", "output", "F, S, P", "field", "jump", "params", "mult-adds", "activations", "memory")]
    for row in rows:
        shortcut = ".shortcut" in row.index
        layer = "  " * row.level + ("shortcut: " if shortcut else "") + row.layer
        window = ", ".join(_pair_text(pair) for pair in row.window) if row.window else ""
        table.append((row.number, layer, format_shape(row.output_shape), window, *_field_text(row.field),
                      f"{row.parameters:,}", "?" if row.multiply_adds is None else f"{row.multiply_adds:,}",
                      f"{row.activations:,}", _bytes(row.activations * itemsize)))
    lines = _aligned(table, 4)
    dtype = totals["dtype"]
    lines += [
        "",
        f"parameters: {totals['parameters']:,} ({_bytes(totals['parameter_bytes'])} as {dtype})"
        + (f"; running statistics: {totals['running_statistics']:,}" if totals["running_statistics"] else ""),
        (f"activations per example: {totals['activations']:,} numbers = {_bytes(totals['activation_bytes'])} "
         f"forward, ≈ {_bytes(totals['training_activation_bytes'])} forward + backward (×2)"),
        f"multiply-adds per example: {_large(totals['multiply_adds'])} = {_large(totals['flops'])} FLOPs",
        *sharing_lines(rows),
    ]
    return "\n".join(lines)
