"""The residual block of ResNets: out = f(x) + shortcut(x)."""

from __future__ import annotations

from volnet.gradients.numerical import LayerCase, VOLUME, away_from_zero
from volnet.layers.activation import Tanh
from volnet.layers.base import Layer, format_shape
from volnet.layers.conv import Conv2D
from volnet.layers.cost import one_per_number
from volnet.layers.normalization import BatchNorm
from volnet.layers.registry import register
from volnet.layers.sequential import Sequential


@register
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

    def _forward(self, x):
        shortcut = self.projection.forward(x) if self.projection else x
        return self.body.forward(x) + shortcut

    def _backward(self, dout):
        dx = self.body.backward(dout)
        return dx + (self.projection.backward(dout) if self.projection else dout)

    # -- what the layer is ---------------------------------------------------------------------
    def spec(self, spec_of):
        return {"body": spec_of(self.body), "projection": None if self.projection is None else spec_of(self.projection)}

    @classmethod
    def from_spec(cls, spec, layer_of):
        projection = spec["projection"]
        return cls(layer_of(spec["body"]), None if projection is None else layer_of(projection))

    def cost(self, input_shape, output_shape):
        """One addition per number; the body's and the shortcut's are their own rows."""
        return one_per_number(output_shape)

    def summary_name(self):
        return f"Residual (body + {'projection' if self.projection else 'identity'})"

    def summary_parts(self):
        return [("", self.body)] + ([(".shortcut", self.projection)] if self.projection is not None else [])

    def describe(self):
        inner = ", ".join(layer.describe() for layer in self.body.layers if not layer.elementwise)
        return f"residual block [{inner}]"

    def diagram_shortcut(self):
        """"identity", or the projection's layers ("conv 1×1, 32 filters, stride 2, batch norm")."""
        if self.projection is None:
            return "identity"
        projection = self.projection.layers if isinstance(self.projection, Sequential) else [self.projection]
        return ", ".join(part.describe() for part in projection)

    def to_onnx(self, graph, name, x):
        """The body, the projection (or the input itself), Add."""
        body = graph.layer(self.body, f"{name}.body", x)
        shortcut = x if self.projection is None else graph.layer(self.projection, f"{name}.projection", x)
        return graph.node("Add", [body, shortcut], name)

    @classmethod
    def gradient_cases(cls):
        return (
            LayerCase("residual, identity", lambda: cls([Conv2D(3, 3, pad=1), Tanh(), Conv2D(3, 3, pad=1)]),
                      away_from_zero(VOLUME)),
            # no conv bias before batch norm: BN removes the mean, so that gradient is exactly 0
            LayerCase("residual, projection", lambda: cls([Conv2D(4, 3, stride=2, pad=1, bias=False), BatchNorm()],
                                                          projection=Conv2D(4, 1, stride=2)),
                      away_from_zero((2, 3, 7, 7))),
        )
