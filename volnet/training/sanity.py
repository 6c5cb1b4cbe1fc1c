"""Two checks from CS231n's "babysitting the learning process", run before training for real.

1. The initial loss. With small random weights every class gets about the same score, so
   softmax gives each class p ≈ 1/C and the cross-entropy is ≈ −ln(1/C) = ln C
   (2.303 for 10 classes; label smoothing does not change this). A loss far from ln C means
   the initial scores are not small: check the weight scale or the regularisation.
2. Overfitting a tiny subset. A model, loss and update rule that work together can learn a
   few dozen examples by heart: training accuracy on them should reach 100% within a few
   hundred steps. If it does not, something is broken (a wrong gradient, a learning rate far
   off, a layer that destroys the signal) and a long run would be wasted.

Both checks work on a copy of the model, so the run that follows is unaffected.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass

import numpy as np

from volnet.data import Dataset, iterate_batches
from volnet.optim import make_optimizer
from volnet.training.metrics import accuracy, predict_scores

INITIAL_LOSS_TOLERANCE = 0.5


@dataclass
class SanityReport:
    """The results of both checks.

    Attributes:
        initial_loss: the mean loss of the untrained model on `loss_examples` training examples.
        expected_loss: ln C.
        overfit_examples: how many examples the copy was trained on.
        overfit_steps: the full-batch steps it took (or the limit, if it never got there).
        overfit_accuracy: its training accuracy on them at the end.
    """

    initial_loss: float
    expected_loss: float
    loss_examples: int
    overfit_examples: int
    overfit_steps: int
    overfit_accuracy: float

    @property
    def initial_loss_ok(self) -> bool:
        return abs(self.initial_loss - self.expected_loss) <= INITIAL_LOSS_TOLERANCE

    @property
    def overfit_ok(self) -> bool:
        return self.overfit_accuracy == 1.0

    def lines(self) -> list[str]:
        """A readable report, with a warning line for each check that failed."""
        lines = [f"sanity: initial loss {self.initial_loss:.3f} on {self.loss_examples} examples, "
                 f"expected ln(C) = {self.expected_loss:.3f}"]
        if not self.initial_loss_ok:
            lines.append(f"warning: the initial loss is {abs(self.initial_loss - self.expected_loss):.2f} away from "
                         f"ln(C) (more than {INITIAL_LOSS_TOLERANCE}): the untrained scores are not near-uniform; "
                         "check the weight initialisation scale and the regularisation")
        lines.append(f"sanity: overfitting {self.overfit_examples} examples reached {self.overfit_accuracy:.0%} "
                     f"training accuracy in {self.overfit_steps} steps")
        if not self.overfit_ok:
            lines.append("warning: the model could not learn a tiny subset by heart; look for a wrong gradient "
                         "(volnet gradcheck), a learning rate far off, or a layer that destroys the signal")
        return lines

    def to_dict(self) -> dict:
        return {"initial_loss": self.initial_loss, "expected_loss": self.expected_loss,
                "loss_examples": self.loss_examples, "overfit_examples": self.overfit_examples,
                "overfit_steps": self.overfit_steps, "overfit_accuracy": self.overfit_accuracy}


def initial_loss(model, dataset: Dataset, loss, normalize=None, examples: int = 256, seed: int = 0) -> float:
    """The mean loss of `model` (a copy, in training mode) on `examples` random examples."""
    model = copy.deepcopy(model).train()
    subset = dataset.subset(np.random.default_rng(seed).permutation(len(dataset))[:examples])
    x, labels = next(iterate_batches(subset, len(subset), shuffle=False, normalize=normalize))
    return float(loss(model.forward(x), labels)[0])


def overfit_subset(model, dataset: Dataset, loss, normalize=None, examples: int = 32, max_steps: int = 300,
                   lr: float = 1e-3, seed: int = 0) -> tuple[float, int]:
    """Train a copy of `model` with Adam on `examples` random examples, one full batch per step,
    until it classifies all of them correctly or max_steps is reached.

    Returns:
        (training accuracy on the subset in inference mode, steps taken).
    """
    model = copy.deepcopy(model).train()
    subset = dataset.subset(np.random.default_rng(seed).permutation(len(dataset))[:examples])
    x, labels = next(iterate_batches(subset, len(subset), shuffle=False, normalize=normalize))
    optimizer = make_optimizer("adam", model.parameters(), lr=lr)
    score, steps = 0.0, 0
    while steps < max_steps:
        optimizer.zero_grad()
        model.backward(loss(model.forward(x), labels)[1])
        optimizer.step()
        steps += 1
        if steps % 10 == 0 or steps == max_steps:
            score = accuracy(predict_scores(model, subset, normalize=normalize).argmax(axis=1), labels)
            if score == 1.0:
                break
    return score, steps


def sanity_check(model, dataset: Dataset, loss, normalize=None, seed: int = 0, loss_examples: int = 256,
                 overfit_examples: int = 32, max_steps: int = 300) -> SanityReport:
    """Run both checks (see the module doc) on copies of the model.

    Args:
        model: a built, untrained model giving (N, C) scores.
        dataset: training examples, C = len(dataset.class_names) classes.
        loss: the loss object the run will use.
        normalize: the run's Normalization, or None.
        seed: picks the examples.
    """
    first = initial_loss(model, dataset, loss, normalize, loss_examples, seed)
    score, steps = overfit_subset(model, dataset, loss, normalize, overfit_examples, max_steps, seed=seed)
    return SanityReport(first, math.log(len(dataset.class_names)), min(loss_examples, len(dataset)),
                        min(overfit_examples, len(dataset)), steps, score)
