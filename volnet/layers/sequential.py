"""Sequential: a chain of layers, each feeding the next — the notes' ConvNet."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from volnet.gradients.numerical import VOLUME, LayerCase, away_from_zero
from volnet.layers.activation import Tanh
from volnet.layers.base import Layer, format_shape
from volnet.layers.conv import Conv2D
from volnet.layers.linear import Linear
from volnet.layers.pool import AvgPool2D
from volnet.layers.registry import register


@register
class Sequential(Layer):
    """Layers applied in order; backward runs them in reverse.

    Shapes are inferred: give the input shape of one example (D, H, W) — here or to
    `build` — and each layer is built for the output of the one before, so no layer's
    input depth is ever written twice.

    Args:
        *layers: the layers, in order: Sequential(conv, relu, pool) or Sequential([conv, relu, pool]).
        input_shape: (D, H, W) or (D,) of one example, to build at once.
        seed: seeds the initial weights when building.
        dtype: the dtype of the parameters when building.

    Raises:
        TypeError: something other than layers, e.g. an architecture string (which
            volnet.build_model reads).

    Example:
        >>> model = Sequential(Conv2D(8, 3, pad=1), ReLU(), MaxPool2D(), Flatten(), Linear(10))
        >>> model.output_shape((1, 28, 28))
        (10,)
    """

    def __init__(self, *layers, input_shape=None, seed: int | None = None, dtype=np.float32):
        super().__init__()
        if len(layers) == 1 and isinstance(layers[0], str):
            raise TypeError(
                f"Sequential takes layers, not an architecture string; to build {layers[0]!r} use "
                f"volnet.build_model({layers[0]!r}, input_shape), e.g. input_shape=(1, 28, 28), "
                f"or give the layers: Sequential(Conv2D(32, 3), ReLU(), ...)")
        if len(layers) == 1 and isinstance(layers[0], Iterable) and not isinstance(layers[0], Layer):
            layers = layers[0]
        self.layers = list(layers)
        if not all(isinstance(layer, Layer) for layer in self.layers):
            wrong = next(layer for layer in self.layers if not isinstance(layer, Layer))
            raise TypeError(f"Sequential takes layers, got {type(wrong).__name__}: {wrong!r}; write "
                            f"Sequential(layer, layer, ...) or Sequential([layer, layer, ...]), and give input_shape, "
                            f"seed and dtype by keyword")
        self.seed = seed
        self.units: list[tuple[Layer, Layer | None]] = []  # what the last forward ran: see _units
        self.number_layers()
        if input_shape is not None:
            self.build(input_shape, dtype=dtype, rng=np.random.default_rng(seed))

    def number_layers(self):
        prefix = f"{self.index}." if self.index else ""
        for position, layer in enumerate(self.layers, start=1):
            layer.index = f"{prefix}{position}"
            layer.number_layers()

    def config(self):
        return {}

    def output_shapes(self, input_shape) -> list[tuple[int, ...]]:
        """The shape of one example after each layer (checks that every layer fits)."""
        shapes, shape = [], tuple(input_shape)
        for layer in self.layers:
            shape = layer.output_shape(shape)
            shapes.append(shape)
        return shapes

    def output_shape(self, input_shape):
        return self.output_shapes(input_shape)[-1] if self.layers else tuple(input_shape)

    def field_through(self, field):
        """The field after each layer in turn."""
        for layer in self.layers:
            field = layer.field_through(field)
        return field

    def build(self, input_shape, dtype=None, rng=None):
        rng = rng if rng is not None else np.random.default_rng(self.seed)
        shape = tuple(int(s) for s in input_shape)
        self.input_shape, self._checked_shape = shape, shape
        self.dtype = np.dtype(dtype or self.dtype)
        for layer in self.layers:
            shape = layer.build(shape, dtype=self.dtype, rng=rng)
        return shape

    def _units(self) -> list[tuple[Layer, Layer | None]]:
        """The layers in the order they run, as (layer, None), or (layer, following) where layer
        absorbs the layer after it (Layer.absorbs: batch norm and the ReLU after it, in one pass).
        Asked at each forward, so that a layer recording (record(): each layer's own output) or a
        changed list of layers is seen at once; a pair is never formed with a recording layer."""
        units, position = [], 0
        while position < len(self.layers):
            layer = self.layers[position]
            following = self.layers[position + 1] if position + 1 < len(self.layers) else None
            if following is not None and not (layer.recording or following.recording) and layer.absorbs(following):
                units.append((layer, following))
                position += 2
            else:
                units.append((layer, None))
                position += 1
        return units

    def _forward(self, x):
        self.units = self._units()
        for layer, following in self.units:
            x = layer.forward(x) if following is None else layer.forward_absorbing(x, following)
        return x

    def backward(self, dout, input_gradient=True):
        """dx for dout, through every layer in reverse; with input_gradient=False the first
        layer computes only its parameters' gradients and None is returned (training does
        this: nobody uses the gradient of the images)."""
        if input_gradient:
            return super().backward(dout)
        self.backward_parameters(dout)
        return None

    def _backward(self, dout):
        for unit in reversed(self.units):
            dout = self._unit_backward(unit, dout)
        return dout

    def _backward_parameters(self, dout):
        if not self.units:
            return
        for unit in reversed(self.units[1:]):
            dout = self._unit_backward(unit, dout)
        layer, following = self.units[0]
        if following is None:
            layer.backward_parameters(dout)
        else:  # a pair computes its input's gradient anyway
            layer.backward_absorbing(dout, following)

    @staticmethod
    def _unit_backward(unit, dout):
        layer, following = unit
        return layer.backward(dout) if following is None else layer.backward_absorbing(dout, following)

    # -- what the layer is ---------------------------------------------------------------------
    def spec(self, spec_of):
        return {"layers": [spec_of(layer) for layer in self.layers]}

    @classmethod
    def from_spec(cls, spec, layer_of):
        if not isinstance(spec["layers"], list):
            raise TypeError("'layers' must be a list")
        return cls([layer_of(layer) for layer in spec["layers"]])

    def to_onnx(self, graph, name, x):
        """Each layer's nodes in turn, named "0", "1", ... (inside a block "3.body.0", ...)."""
        for index, layer in enumerate(self.layers):
            x = graph.layer(layer, f"{name}.{index}" if name else str(index), x)
        return x

    def to_convnetjs(self, net):
        for layer in self.layers:
            net.layer(layer)

    @classmethod
    def gradient_cases(cls):
        return (LayerCase("sequential", lambda: cls([Conv2D(2, 3, pad=1), Tanh(), AvgPool2D(), Linear(3)]),
                          away_from_zero(VOLUME)),)

    def __len__(self):
        return len(self.layers)

    def __getitem__(self, position):
        return self.layers[position]

    def __repr__(self):
        inner = "\n".join(f"  ({i}) {layer!r}" for i, layer in enumerate(self.layers))
        built = f", input {format_shape(self.input_shape)}" if self.built else ""
        return f"{type(self).__name__}({len(self.layers)} layers{built})\n{inner}"
