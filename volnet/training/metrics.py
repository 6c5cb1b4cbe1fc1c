"""Classification metrics: scores and probabilities of a whole dataset, accuracy, confusion.

Shapes (C classes, N examples):
    scores         (N, C)  class scores, the model's last layer
    probabilities  (N, C)  softmax(scores): each row sums to 1
    predictions    (N,)    argmax over classes
    confusion      (C, C)  confusion[true, predicted] counts examples
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from volnet.data import Dataset, iterate_batches
from volnet.layers import format_shape
from volnet.ops.loss import log_softmax

EVAL_BATCH_SIZE = 256


def predict_scores(model, dataset: Dataset, batch_size: int = EVAL_BATCH_SIZE, normalize=None,
                   mirror: bool = False, world=None) -> np.ndarray:
    """The model's class scores (N, C) for every example, in inference mode and in order.

    Args:
        model: a built model (e.g. a Sequential) whose output is (N, C), for the dataset's image shape.
        dataset: the examples; their labels are not used.
        batch_size: examples per forward pass (only memory depends on it).
        normalize: the Normalization the model was trained with, or None.
        mirror: score every image mirrored left to right instead.
        world: a volnet.distributed.World whose ranks share the work: each scores its share
            of the dataset (World.share), and every rank gets all the scores (World.gather).
            None: this process scores everything.

    The model is switched to inference mode (dropout off, batch norm on its running
    statistics) and back to the mode it was in.
    """
    if model.input_shape is not None and tuple(model.input_shape) != dataset.image_shape:
        raise ValueError(f"the model takes {format_shape(model.input_shape)} images but {dataset.name} has "
                         f"{format_shape(dataset.image_shape)} images; use a dataset like the one it was trained on")
    was_training = model.training
    model.eval()
    try:
        part = dataset if world is None else dataset.subset(world.share(len(dataset)))
        batches = iterate_batches(part, batch_size, shuffle=False, normalize=normalize)
        scores = [model.forward(x[..., ::-1] if mirror else x) for x, _ in batches]
        if not scores:  # a rank whose share is empty
            scores = [np.empty((0, *model.output_shape(dataset.image_shape)), model.dtype)]
        scores = np.concatenate(scores)
        return scores if world is None else world.gather(scores)
    finally:
        model.train(was_training)


def softmax(scores: np.ndarray) -> np.ndarray:
    """Probabilities (N, C) from scores (N, C), computed stably in float64."""
    return np.exp(log_softmax(np.asarray(scores, dtype=np.float64)))


def predict_proba(model, dataset: Dataset, batch_size: int = EVAL_BATCH_SIZE, normalize=None,
                  tta: bool = False, world=None) -> np.ndarray:
    """Class probabilities (N, C) = softmax of the scores, in float64; arguments as predict_scores.

    tta (test-time augmentation): classify each image as it is and mirrored left to right,
    and average the two probabilities. It suits models trained with horizontal flips (on
    Fashion-MNIST it added 0.4 % test accuracy, docs/performance.md) and costs a second pass.
    """
    return _probabilities(predict_scores(model, dataset, batch_size, normalize, world=world), model, dataset,
                          batch_size, normalize, tta, world)


def _probabilities(scores, model, dataset, batch_size, normalize, tta, world):
    """softmax(scores), averaged with the mirror images' probabilities when tta (predict_proba)."""
    probabilities = softmax(scores)
    if tta:
        mirrored = predict_scores(model, dataset, batch_size, normalize, True, world)
        probabilities = (probabilities + softmax(mirrored)) / 2
    return probabilities


def accuracy(predictions, labels) -> float:
    """The fraction of predictions (N,) equal to labels (N,)."""
    predictions, labels = np.asarray(predictions), np.asarray(labels)
    if predictions.shape != labels.shape or predictions.ndim != 1 or len(labels) == 0:
        raise ValueError(f"accuracy wants predictions and labels of one shape (N,), N ≥ 1; "
                         f"got {predictions.shape} and {labels.shape}")
    return float(np.mean(predictions == labels))


def confusion_matrix(labels, predictions, classes: int) -> np.ndarray:
    """(C, C) int64 counts: row = true class, column = predicted class.

    Args:
        labels: (N,) true classes in [0, C).
        predictions: (N,) predicted classes in [0, C).
        classes: C.
    """
    labels, predictions = np.asarray(labels, dtype=np.int64), np.asarray(predictions, dtype=np.int64)
    return np.bincount(labels * classes + predictions, minlength=classes * classes).reshape(classes, classes)


def per_class_accuracy(confusion: np.ndarray) -> np.ndarray:
    """(C,) the share of each true class predicted correctly: diagonal / row sum; NaN for a
    class without examples."""
    totals = confusion.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.diag(confusion) / totals


@dataclass
class Evaluation:
    """How a model does on a labelled dataset.

    Attributes:
        loss: the mean loss (None when no loss was given).
        accuracy: the fraction classified correctly.
        confusion: (C, C) counts, row = true class, column = predicted.
        predictions: (N,) predicted classes.
        probabilities: (N, C) softmax of the scores (with tta: averaged with the mirror images').
        class_names: C names.
        tta: whether each image's probabilities were averaged with its mirror image's.
    """

    loss: float | None
    accuracy: float
    confusion: np.ndarray
    predictions: np.ndarray
    probabilities: np.ndarray
    class_names: list[str]
    tta: bool = False

    @property
    def per_class_accuracy(self) -> np.ndarray:
        return per_class_accuracy(self.confusion)

    def report(self) -> str:
        """Accuracy, a per-class table and the confusion matrix, as text."""
        counts = self.confusion.sum(axis=1)
        width = max(len("class"), *(len(name) for name in self.class_names))
        loss = "" if self.loss is None else f"  loss {self.loss:.4f}"
        lines = [f"accuracy {self.accuracy:.2%} ({int(np.trace(self.confusion))} of {int(counts.sum())}){loss}", "",
                 f"{'':>3} {'class':<{width}}  accuracy  examples"]
        for index, (name, score, count) in enumerate(zip(self.class_names, self.per_class_accuracy, counts)):
            shown = "     -" if np.isnan(score) else f"{score:7.1%}"
            lines.append(f"{index:>3} {name:<{width}}  {shown:>8}  {count:>8}")
        cell = max(4, len(str(int(self.confusion.max()))) + 1)
        lines += ["", "confusion matrix (rows: true class, columns: predicted class)",
                  f"{'':>3} {'':<{width}} " + "".join(f"{index:>{cell}}" for index in range(len(self.class_names)))]
        for index, (name, row) in enumerate(zip(self.class_names, self.confusion)):
            lines.append(f"{index:>3} {name:<{width}} " + "".join(f"{int(count):>{cell}}" for count in row))
        return "\n".join(lines)

    def to_dict(self) -> dict:
        """The metrics as plain numbers and lists, ready for json.dumps (NaN becomes None)."""
        return {
            "loss": self.loss,
            "accuracy": self.accuracy,
            "per_class_accuracy": {name: (None if np.isnan(value) else float(value))
                                   for name, value in zip(self.class_names, self.per_class_accuracy)},
            "confusion_matrix": self.confusion.tolist(),
            "class_names": list(self.class_names),
            "tta": self.tta,
        }


def evaluate(model, dataset: Dataset, batch_size: int = EVAL_BATCH_SIZE, normalize=None, loss=None,
             tta: bool = False, world=None) -> Evaluation:
    """Accuracy, per-class accuracy, confusion matrix (and mean loss) of a model on a dataset.

    Args:
        model: a built model giving (N, C) scores, with C = len(dataset.class_names).
        dataset: labelled examples.
        batch_size, normalize: as predict_scores.
        loss: a loss object (scores, labels) -> (loss, dscores), e.g. SoftmaxCrossEntropy(); optional.
        tta: average each image's probabilities with its mirror image's (predict_proba); the
            loss is then computed on their logarithms as scores, which for cross-entropy is the
            cross-entropy of the averaged probabilities.
        world: the ranks that share the scoring (predict_scores); every rank gets the same Evaluation.

    NumPy's floating-point warnings are silenced: a model whose weights have blown up shows
    it as an inf or NaN loss, not as RuntimeWarnings.

    Raises:
        ValueError: the model gives a number of scores other than the dataset's class count.
    """
    with np.errstate(all="ignore"):
        scores = predict_scores(model, dataset, batch_size, normalize, world=world)
        classes = len(dataset.class_names)
        if scores.shape[1] != classes:
            raise ValueError(f"the model gives {scores.shape[1]} class scores but {dataset.name} has {classes} "
                             f"classes ({', '.join(dataset.class_names[:5])}{', …' if classes > 5 else ''}); "
                             f"use a model trained for this dataset, or one ending in fc{classes}")
        probabilities = _probabilities(scores, model, dataset, batch_size, normalize, tta, world)
        if tta:
            scores = np.log(np.maximum(probabilities, np.finfo(np.float64).tiny))  # their softmax: probabilities
        predictions = probabilities.argmax(axis=1)
        mean_loss = None if loss is None else float(loss(scores, dataset.labels)[0])
    return Evaluation(mean_loss, accuracy(predictions, dataset.labels),
                      confusion_matrix(dataset.labels, predictions, classes), predictions, probabilities,
                      list(dataset.class_names), tta)
