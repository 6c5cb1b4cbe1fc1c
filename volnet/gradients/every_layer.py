"""The gradient check of every layer type and loss, as `volnet gradcheck` runs it.

CS231n's rule: compare each analytic gradient with centred differences (volnet.gradients.numerical),
in float64, at inputs where the function is smooth. Each registered layer type gives its own
cases (Layer.gradient_cases, in registration order); the five-point stencil samples x ± 2h
(h = 1e-3), so inputs keep clear of kinks:
- ReLU-like and general inputs have |x| ≥ 0.1 (`away_from_zero`);
- max-pool inputs are a shuffled ramp with gaps of 0.01 between values, so no perturbation
  changes a window's winner (`shuffled_ramp`);
- SVM scores are drawn until every margin is ≥ 0.05 from its hinge.
Relative errors ≲ 1e-7 mean the backward pass is right.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from volnet.gradients.numerical import LayerCase, check_layer_gradients, check_loss_gradient
from volnet.layers import SoftmaxCrossEntropy, SVMLoss
from volnet.layers.registry import layer_types

TOLERANCE = 1e-7


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


def layer_cases() -> list[LayerCase]:
    """Every registered layer type's gradient cases, in registration order."""
    return [case for kind in layer_types().values() for case in kind.gradient_cases()]


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
    """Check every case of layer_cases() and both losses; one result per gradient.

    Args:
        seed: seeds the layers' initial weights.
    """
    results = []
    for case in layer_cases():
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
