"""Gradient checking, as in CS231n: compare a backward pass with centred differences.

For a layer with output out = f(x), pick a random upstream gradient dout and define the
scalar L = Σ out·dout. Then backward(dout) must equal ∂L/∂x, and every parameter's .grad
must equal ∂L/∂param. Centred differences estimate each partial derivative:

    ∂L/∂v ≈ (L(v − 2h) − 8·L(v − h) + 8·L(v + h) − L(v + 2h)) / 12h      (error O(h⁴))

This five-point centred stencil allows h = 1e-3, so rounding in L (≈ 1e-16·|L|/h) stays
near 1e-13 instead of 1e-10 for the two-point (L(v + h) − L(v − h))/2h at h = 1e-6 — which
matters because the relative error below is taken entry by entry, and tiny entries of a
gradient are otherwise swamped by rounding. The two ≈ agree to O(h²) for smooth L.

The two are compared by the relative error |a − n| / max(|a| + |n|, 1e-8), whose
maximum over all entries should be ≲ 1e-7 in float64 where the function is smooth near
the sample points (away from the kinks of ReLU and max pooling).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np

VOLUME = (3, 3, 6, 6)  # N, D, H, W: the batch most layer cases are checked at


def rel_error(analytic, numeric) -> float:
    """max |a − n| / max(|a| + |n|, 1e-8), elementwise, as in CS231n."""
    analytic, numeric = np.asarray(analytic, dtype=np.float64), np.asarray(numeric, dtype=np.float64)
    return float(np.max(np.abs(analytic - numeric) / np.maximum(np.abs(analytic) + np.abs(numeric), 1e-8)))


def numerical_gradient(f, value: np.ndarray, h: float = 1e-3) -> np.ndarray:
    """Centred-difference gradient (five-point stencil) of the scalar function f() with
    respect to the array `value`, which f reads and which is perturbed in place (and
    restored) entry by entry. Sample points must be at least 2h away from any kink."""
    grad = np.zeros(value.shape, dtype=np.float64)
    for index in np.ndindex(value.shape):
        saved = value[index]
        samples = []
        for step in (-2, -1, 1, 2):
            value[index] = saved + step * h
            samples.append(f())
        value[index] = saved
        # differences first: equal samples then give exactly 0, not a rounding residue
        grad[index] = (8 * (samples[2] - samples[1]) - (samples[3] - samples[0])) / (12 * h)
    return grad


def away_from_zero(shape, seed: int = 0) -> np.ndarray:
    """Random float64 numbers with 0.1 ≤ |x| ≤ 1: at least 0.1 from the kink of ReLU."""
    rng = np.random.default_rng(seed)
    return rng.choice([-1.0, 1.0], size=shape) * rng.uniform(0.1, 1.0, size=shape)


def shuffled_ramp(shape, seed: int = 0) -> np.ndarray:
    """0, 0.01, 0.02, ... in random order: distinct values, 0.01 apart, for max pooling."""
    count = int(np.prod(shape))
    return np.random.default_rng(seed).permutation(count).reshape(shape) * 0.01


@dataclass(frozen=True)
class LayerCase:
    """A layer (made fresh by `make`) checked at input `x`, in training mode: a layer class
    gives its own in `gradient_cases()` (see volnet.gradients.every_layer)."""

    name: str
    make: Callable[[], object]
    x: np.ndarray


def check_layer_gradients(layer, x: np.ndarray, seed: int = 0, h: float = 1e-3) -> dict[str, float]:
    """Relative errors of dx and of every parameter gradient of `layer` at input x.

    Args:
        layer: a volnet layer; it is built for x if it is not yet. Use float64 (x and
            `layer.to(np.float64)`), or the differences drown in rounding.
        x: the input batch at which to check.

    Returns:
        {"x": error of dx, "<parameter name>": error of its gradient, ...}
    """
    generators = list(layer.generators().values())  # dropout's: replayed, so every forward draws the same masks
    states = [g.bit_generator.state for g in generators]

    def run_forward():
        for generator, state in zip(generators, states):
            generator.bit_generator.state = state
        return layer.forward(x)

    out = run_forward()
    dout = np.random.default_rng(seed).standard_normal(out.shape)
    layer.zero_grad()
    run_forward()
    dx = layer.backward(dout.astype(out.dtype))
    analytic = {"x": dx, **{name: g.copy() for name, g in layer.grads.items()}}

    def loss():
        # math.fsum is exactly rounded: np.sum's rounding can change with memory alignment,
        # and a one-ulp wobble in L would swamp gradient entries that are truly zero
        return math.fsum((run_forward() * dout).ravel())

    errors = {"x": rel_error(analytic["x"], numerical_gradient(loss, x, h))}
    for name, parameter in layer.parameters().items():
        errors[name] = rel_error(analytic[name], numerical_gradient(loss, parameter.data, h))
    return errors


def check_loss_gradient(loss_fn, scores: np.ndarray, labels: np.ndarray, h: float = 1e-3) -> float:
    """Relative error of the dscores a loss returns, against centred differences."""
    _, dscores = loss_fn(scores, labels)
    return rel_error(dscores, numerical_gradient(lambda: loss_fn(scores, labels)[0], scores, h))


def assert_gradients_close(errors: dict[str, float], tolerance: float = 1e-7):
    """Raise AssertionError naming every gradient whose relative error exceeds tolerance."""
    bad = {name: error for name, error in errors.items() if not error <= tolerance}
    if bad:
        raise AssertionError(f"relative errors above {tolerance:g}: " + ", ".join(f"{k}={v:.2e}" for k, v in bad.items()))
