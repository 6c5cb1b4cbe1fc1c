"""The gradient check of every layer type and loss, as `volnet gradcheck` runs it.

CS231n's rule: compare each analytic gradient with centred differences (volnet.testing),
in float64, at inputs where the function is smooth. The five-point stencil samples x ± 2h
(h = 1e-3), so inputs keep clear of kinks:
- ReLU-like and general inputs have |x| ≥ 0.1 (`away_from_zero`);
- max-pool inputs are a shuffled ramp with gaps of 0.01 between values, so no perturbation
  changes a window's winner (`shuffled_ramp`);
- SVM scores are drawn until every margin is ≥ 0.05 from its hinge.
Relative errors ≲ 1e-7 mean the backward pass is right.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from volnet.layers import (AvgPool2D, BatchNorm, Conv2D, Dropout, Flatten, GlobalAvgPool2D, LeakyReLU, Linear,
                           MaxPool2D, ReLU, Residual, Sequential, Sigmoid, SoftmaxCrossEntropy, SVMLoss, Tanh)
from volnet.testing import check_layer_gradients, check_loss_gradient

TOLERANCE = 1e-7
VOLUME = (3, 3, 6, 6)  # N, D, H, W


def away_from_zero(shape, seed: int = 0) -> np.ndarray:
    """Random float64 numbers with 0.1 ≤ |x| ≤ 1: at least 0.1 from the kink of ReLU."""
    rng = np.random.default_rng(seed)
    return rng.choice([-1.0, 1.0], size=shape) * rng.uniform(0.1, 1.0, size=shape)


def shuffled_ramp(shape, seed: int = 0) -> np.ndarray:
    """0, 0.01, 0.02, ... in random order: distinct values, 0.01 apart, for max pooling."""
    count = int(np.prod(shape))
    return np.random.default_rng(seed).permutation(count).reshape(shape) * 0.01


def svm_scores(examples: int = 6, classes: int = 5, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Scores (N, C) and labels (N,) whose hinge margins all keep ≥ 0.05 from zero."""
    rng = np.random.default_rng(seed)
    rows = np.arange(examples)
    while True:
        scores, labels = rng.standard_normal((examples, classes)), rng.integers(0, classes, examples)
        margins = scores - scores[rows, labels][:, None] + 1
        margins[rows, labels] = 1  # the correct class has no hinge
        if np.abs(margins).min() > 0.05:
            return scores, labels


@dataclass(frozen=True)
class LayerCase:
    """A layer (made fresh by `make`) checked at input `x`, in training mode."""

    name: str
    make: Callable[[], object]
    x: np.ndarray


LAYER_CASES = (
    LayerCase("conv 3×3 pad 1", lambda: Conv2D(4, 3, pad=1), away_from_zero(VOLUME)),
    LayerCase("conv 3×2 stride (2,1) pad (1,0)", lambda: Conv2D(2, (3, 2), stride=(2, 1), pad=(1, 0)),
              away_from_zero((2, 3, 7, 6))),
    LayerCase("conv stride 2 pad 2", lambda: Conv2D(3, 5, stride=2, pad=2), away_from_zero((2, 2, 7, 7))),
    LayerCase("conv dilated", lambda: Conv2D(2, 3, pad="same", dilation=2), away_from_zero(VOLUME)),
    LayerCase("conv depthwise", lambda: Conv2D(3, 3, pad=1, groups=3, bias=False), away_from_zero(VOLUME)),
    LayerCase("max pool 2×2", lambda: MaxPool2D(2), shuffled_ramp(VOLUME)),
    LayerCase("max pool 3×3 stride 1 pad 1", lambda: MaxPool2D(3, stride=1, pad=1), shuffled_ramp(VOLUME)),
    LayerCase("avg pool 3×3 stride 1", lambda: AvgPool2D(3, stride=1), away_from_zero(VOLUME)),
    LayerCase("global avg pool", GlobalAvgPool2D, away_from_zero(VOLUME)),
    LayerCase("linear", lambda: Linear(4), away_from_zero((4, 7))),
    LayerCase("linear on a volume", lambda: Linear(5), away_from_zero(VOLUME)),
    LayerCase("flatten", Flatten, away_from_zero(VOLUME)),
    LayerCase("relu", ReLU, away_from_zero(VOLUME)),
    LayerCase("leaky relu", lambda: LeakyReLU(0.1), away_from_zero(VOLUME)),
    LayerCase("sigmoid", Sigmoid, away_from_zero(VOLUME)),
    LayerCase("tanh", Tanh, away_from_zero(VOLUME)),
    LayerCase("batch norm (train), volume", BatchNorm, away_from_zero(VOLUME)),
    LayerCase("batch norm (train), vector", BatchNorm, away_from_zero((8, 5))),
    LayerCase("dropout 0.3", lambda: Dropout(0.3, seed=4), away_from_zero(VOLUME)),
    LayerCase("residual, identity", lambda: Residual([Conv2D(3, 3, pad=1), Tanh(), Conv2D(3, 3, pad=1)]),
              away_from_zero(VOLUME)),
    # no conv bias before batch norm: BN removes the mean, so that gradient is exactly 0
    LayerCase("residual, projection", lambda: Residual([Conv2D(4, 3, stride=2, pad=1, bias=False), BatchNorm()],
                                                       projection=Conv2D(4, 1, stride=2)),
              away_from_zero((2, 3, 7, 7))),
    LayerCase("sequential", lambda: Sequential([Conv2D(2, 3, pad=1), Tanh(), AvgPool2D(), Linear(3)]),
              away_from_zero(VOLUME)),
)


@dataclass(frozen=True)
class GradientResult:
    """One gradient's relative error: `case` names the layer or loss, `gradient` the variable."""

    case: str
    gradient: str
    error: float

    @property
    def passed(self) -> bool:
        return self.error <= TOLERANCE


def gradient_name(name: str) -> str:
    """The notes' name of a gradient: "x" -> "dx", "body.0.weight" -> "body.0.dw", "gamma" -> "dgamma"."""
    path, _, last = name.rpartition(".")
    short = {"weight": "dw", "bias": "db"}.get(last, f"d{last}")
    return f"{path}.{short}" if path else short


def check_all_gradients(seed: int = 1) -> list[GradientResult]:
    """Check every case of LAYER_CASES and both losses; one result per gradient.

    Args:
        seed: seeds the layers' initial weights.
    """
    results = []
    for case in LAYER_CASES:
        layer = case.make()
        layer.build(case.x.shape[1:], dtype=np.float64, rng=np.random.default_rng(seed))
        for name, error in check_layer_gradients(layer, case.x.copy()).items():
            results.append(GradientResult(case.name, gradient_name(name), error))
    rng = np.random.default_rng(seed)
    scores, labels = rng.standard_normal((6, 5)), rng.integers(0, 5, 6)
    for smoothing in (0.0, 0.1):
        loss = SoftmaxCrossEntropy(smoothing)
        results.append(GradientResult(f"softmax cross-entropy, smoothing {smoothing}", "dscores",
                                      check_loss_gradient(loss, scores.copy(), labels)))
    scores, labels = svm_scores(seed=seed)
    results.append(GradientResult("SVM (hinge) loss", "dscores", check_loss_gradient(SVMLoss(), scores, labels)))
    return results


def format_results(results: list[GradientResult]) -> str:
    """A table: case, gradient, relative error, PASS/FAIL against TOLERANCE."""
    width = max(len(result.case) for result in results)
    lines = [f"{'layer':<{width}}  {'gradient':<22}  rel. error  result (tolerance {TOLERANCE:g}, float64)"]
    for result in results:
        lines.append(f"{result.case:<{width}}  {result.gradient:<22}  {result.error:10.2e}  "
                     f"{'PASS' if result.passed else 'FAIL'}")
    failed = sum(not result.passed for result in results)
    lines.append(f"{len(results) - failed} of {len(results)} gradients pass" + (f"; {failed} FAIL" if failed else ""))
    return "\n".join(lines)
