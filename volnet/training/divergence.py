"""Finding where a training step went non-finite (NaN or ±inf).

Once a NaN appears it spreads through every later layer and every weight it touches, so
the useful question is where it first appeared. After a step fails its finiteness check
the batch is run again, one layer at a time — forward through the model's layers in order,
then backward in reverse — and the first non-finite thing is named: the input, a layer's
parameters (overflowed by an earlier update), a layer's output, the loss, a layer's dx, or
the gradient of one of its parameters.
"""

from __future__ import annotations

import numpy as np

from volnet.layers import Sequential


class NonFiniteError(ValueError):
    """A training step met NaN or inf.

    Attributes:
        epoch, step: where training stopped (1-based epoch, 0-based global step).
        where: what first went non-finite, e.g. "the output of Conv2D #1 (filters=8)".
    """

    def __init__(self, message: str, epoch: int, step: int, where: str):
        super().__init__(message)
        self.epoch, self.step, self.where = epoch, step, where


def describe_non_finite(array: np.ndarray) -> str | None:
    """None if every number is finite, else e.g. "3 NaN and 1 inf of 640 numbers"."""
    array = np.asarray(array)
    if np.isfinite(array).all():
        return None
    nans = int(np.isnan(array).sum())
    return f"{nans} NaN and {array.size - nans - int(np.isfinite(array).sum())} inf of {array.size} numbers"


def first_non_finite_parameter(layer, kind: str) -> str | None:
    """Describe the first of the layer's parameters (kind "data") or gradients (kind "grad")
    holding NaN or inf, or None."""
    for name, parameter in layer.parameters().items():
        problem = describe_non_finite(getattr(parameter, kind))
        if problem:
            what = "gradient of the parameter" if kind == "grad" else "parameter"
            return f"the {what} {name!r} of {layer.label()} ({problem})"
    return None


def locate_non_finite(model, x: np.ndarray, labels: np.ndarray, loss) -> str:
    """Run one training batch again, layer by layer, and say what first went non-finite.

    Args:
        model: the model (a Sequential is traced layer by layer; any other layer as a whole).
        x: the input batch (N, ...) of the failed step.
        labels: (N,) its labels.
        loss: the loss object, (scores, labels) -> (loss, dscores).

    Returns:
        e.g. "the output of Linear #5 (units=10) (2 NaN and 0 inf of 640 numbers)", or
        "nothing (the batch ran finite when repeated)" if the failure does not recur.

    The caller restores random generators (dropout) first, so the rerun sees the same masks.
    """
    layers = model.layers if isinstance(model, Sequential) else [model]
    problem = describe_non_finite(x)
    if problem:
        return f"the input batch ({problem}); check the dataset and its normalisation"
    with np.errstate(all="ignore"):
        for layer in layers:
            problem = first_non_finite_parameter(layer, "data")
            if problem:
                return problem
            x = layer.forward(x)
            problem = describe_non_finite(x)
            if problem:
                return f"the output of {layer.label()} ({problem})"
        value, dout = loss(x, labels)
        if not np.isfinite(value):
            return f"the loss ({value})"
        model.zero_grad()
        for layer in reversed(layers):
            dout = layer.backward(dout)
            problem = first_non_finite_parameter(layer, "grad")
            if problem:
                return problem
            problem = describe_non_finite(dout)
            if problem:
                return f"the gradient dx of {layer.label()} ({problem})"
    return "nothing (the batch ran finite when repeated)"
