"""The residual block of ResNets: out = f(x) + shortcut(x)."""

from __future__ import annotations

from volnet.layers.base import Layer, format_shape
from volnet.layers.sequential import Sequential


class Residual(Layer):
    """Adds the input back onto what a chain of layers makes of it.

        out = body(x) + x               (identity shortcut), or
        out = body(x) + projection(x)   when the body changes the volume's shape
    Backward: both branches receive dout, and dx is the sum of what they return — the
    shortcut passes the gradient through untouched, which is what lets deep nets train.

    Args:
        body: the layers of f, e.g. [Conv2D(64, 3, pad=1), BatchNorm(), ReLU(), Conv2D(64, 3, pad=1)].
        projection: a layer for the shortcut (typically a 1×1 Conv2D with stride), or None.

    Shapes: (N, D, H, W) -> the body's output shape, which the shortcut must match.
    """

    def __init__(self, body, projection: Layer | None = None):
        super().__init__()
        self.body = body if isinstance(body, Sequential) else Sequential(body)
        self.projection = projection
        self.number_layers()

    def config(self):
        return {}

    def field_through(self, field):
        """body(x) + shortcut(x) depends on what either path sees: the union of their fields."""
        shortcut = field if self.projection is None else self.projection.field_through(field)
        return self.body.field_through(field).union(shortcut)

    def output_shape(self, input_shape):
        body_shape = self.body.output_shape(input_shape)
        shortcut_shape = self.projection.output_shape(input_shape) if self.projection else tuple(input_shape)
        if body_shape != shortcut_shape:
            raise ValueError(
                f"{self.label()}: the body turns {format_shape(input_shape)} into {format_shape(body_shape)} but the "
                f"shortcut gives {format_shape(shortcut_shape)}; they must match to be added. Add a projection, "
                f"e.g. a 1×1 Conv2D with {body_shape[0]} filters and the body's stride."
            )
        return body_shape

    def number_layers(self):
        self.body.index = self.index
        self.body.number_layers()
        if self.projection:
            self.projection.index = f"{self.index}.shortcut" if self.index else "shortcut"
            self.projection.number_layers()

    def build(self, input_shape, dtype=None, rng=None):
        out = super().build(input_shape, dtype=dtype, rng=rng)
        self.body.build(input_shape, dtype=self.dtype, rng=rng)
        if self.projection:
            self.projection.build(input_shape, dtype=self.dtype, rng=rng)
        return out

    def forward(self, x):
        x = self.check_input(x)
        shortcut = self.projection.forward(x) if self.projection else x
        return self.body.forward(x) + shortcut

    def backward(self, dout):
        dx = self.body.backward(dout)
        return dx + (self.projection.backward(dout) if self.projection else dout)
