"""Finding where training diverged: the loss blew up, or a step went non-finite (NaN or ±inf).

Two ways a run diverges, both usually from too large a learning rate:
- the loss grows without bound while every number stays finite: `loss_diverged` flags a
  loss more than DIVERGENCE_FACTOR times the first step's and above DIVERGENCE_FLOOR;
- a number overflows to inf, and inf − inf or 0·inf makes NaN. Once a NaN appears it
  spreads through every later layer and every weight it touches, so the useful question is
  where it first appeared. After a step fails its finiteness check the batch is run again,
  one layer at a time — forward through the model's layers in order, then backward in
  reverse — and the first non-finite thing is named: the input, a layer's parameters
  (overflowed by an earlier update), a layer's output, the loss, a layer's dx, or the
  gradient of one of its parameters.
"""

from __future__ import annotations

import math

import numpy as np

from volnet.layers import Sequential

DIVERGENCE_FACTOR = 1000.0
DIVERGENCE_FLOOR = 100.0


class DivergenceError(ValueError):
    """Training diverged: the loss blew up, or a step met NaN or inf.

    Attributes:
        epoch, step: where training stopped (1-based epoch, 0-based global step).
        where: what went wrong first, e.g. "the output of Conv2D #1 (filters=8)".
    """

    def __init__(self, message: str, epoch: int, step: int, where: str):
        super().__init__(message)
        self.epoch, self.step, self.where = epoch, step, where


class NonFiniteError(DivergenceError):
    """A training step met NaN or inf (attributes as DivergenceError)."""


def loss_diverged(loss: float, first_loss: float | None) -> bool:
    """Whether a finite loss has clearly diverged from the first step's.

    The rule: loss > DIVERGENCE_FACTOR · first_loss and loss > DIVERGENCE_FLOOR, i.e. more
    than 1000 times the first step's loss and above 100. Training lowers the loss; a noisy
    step may double it, never multiply it by 1000. Softmax cross-entropy starts near ln C
    (2.3 for 10 classes), so a run stops at 2300, where the true class's score lies ~2300
    below the top one: the weights have blown up (Adam at lr 100 takes the "tiny" preset's
    loss from 2.3 to ~1e14 in one step) and no run comes back. The floor keeps a run whose
    first loss is near 0 (fine-tuning a trained model) from stopping at a loss that noise
    can reach.

    Args:
        loss: this step's loss.
        first_loss: the loss of the run's first step, or None before it is known.

    Returns:
        False for a non-finite loss (NaN and inf are NonFiniteError's, with their own report).
    """
    return (first_loss is not None and math.isfinite(loss) and loss > DIVERGENCE_FLOOR
            and loss > DIVERGENCE_FACTOR * first_loss)


def learning_rate_advice(lr: float) -> str:
    """How to stop a run from diverging, with the learning rate it ran at."""
    return (f"Lower the learning rate (it is {lr:.3g}; --lr on the command line), clip gradients (--clip-norm), "
            f"or check the data")


def all_finite(arrays) -> bool:
    """Whether every number of every array is finite."""
    return all(np.isfinite(array).all() for array in arrays)


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


def largest_parameter(model) -> str:
    """Name the parameter holding the number of largest magnitude, e.g.
    "the parameter 'weight' of Linear #4 (units=16) (|w| up to 3.1e+21)": where a diverging
    run's weights have grown most."""
    layers = model.layers if isinstance(model, Sequential) else [model]
    largest, found = -1.0, "no parameter"
    for layer in layers:
        for name, parameter in layer.parameters().items():
            magnitude = float(np.abs(parameter.data).max(initial=0))
            if magnitude > largest:
                largest, found = magnitude, f"the parameter {name!r} of {layer.label()} (|w| up to {magnitude:.2g})"
    return found


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
