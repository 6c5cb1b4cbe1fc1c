"""Classification metrics: scores and probabilities of a whole dataset, accuracy, confusion.

Shapes (C classes, N examples):
    scores         (N, C)  class scores, the model's last layer
    probabilities  (N, C)  softmax(scores): each row sums to 1
    predictions    (N,)    argmax over classes
    confusion      (C, C)  confusion[true, predicted] counts examples

Test-time augmentation (tta) classifies each image in several views and averages the views'
probabilities. The views are named by words joined by commas (tta_views):

    "flip"          the image and its mirror (left to right): 2 views; True means this
    "shift"         the image and the image shifted by one pixel down, up, right and left,
                    zeros brought in at the border (volnet.data.augment.translate): 5 views
    "flip,shift"    each of those 5 and its mirror: 10 views

Each view costs one more forward pass over the dataset.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from volnet.data import Dataset, iterate_batches
from volnet.data.augment import translate
from volnet.errors import SettingError
from volnet.layers import format_shape
from volnet.ops.loss import log_softmax

EVAL_BATCH_SIZE = 256
# the words of test-time augmentation, and what each adds (module doc)
TTA_WORDS = {"flip": "its mirror image", "shift": "its shifts by one pixel down, up, right and left"}
ONE_PIXEL = ((1, 0), (-1, 0), (0, 1), (0, -1))  # (dy, dx): down, up, right, left


@dataclass(frozen=True)
class View:
    """One view of test-time augmentation: the image shifted by `shift` = (dy, dx) pixels (zeros
    brought in; positive dy moves it down, dx right), then mirrored left to right if `mirror`."""

    mirror: bool = False
    shift: tuple[int, int] = (0, 0)


def tta_views(tta) -> tuple[View, ...]:
    """The views that test-time augmentation `tta` averages (module doc), the image itself first.

    Args:
        tta: False, None or "" (the image alone), True (= "flip", the meaning of tta before there
            were words), or words of TTA_WORDS joined by commas.

    Raises:
        SettingError: a word that is not a view, naming the setting tta.

    Example: tta_views("flip") -> (View(), View(mirror=True)); len(tta_views("flip,shift")) == 10.
    """
    words = _tta_words(tta)
    shifts = [(0, 0), *(ONE_PIXEL if "shift" in words else ())]
    return tuple(View(mirror, shift) for shift in shifts for mirror in ((False, True) if "flip" in words else (False,)))


def _tta_words(tta) -> list[str]:
    """The words of tta (tta_views), checked."""
    text = "flip" if tta is True else "" if tta is False or tta is None else tta
    if not isinstance(text, str):
        raise SettingError("{tta} must be True, False or view words such as 'flip,shift', got {value!r}", value=tta)
    words = [word.strip().lower() for word in text.split(",") if word.strip()]
    unknown = [word for word in words if word not in TTA_WORDS]
    if unknown:
        raise SettingError("unknown {tta} view {word!r}: use " + ", ".join(f"'{word}' ({what})" for word, what in
                           TTA_WORDS.items()) + ", joined by commas, e.g. flip,shift", word=unknown[0])
    return words


def describe_tta(tta) -> str:
    """What test-time augmentation `tta` does to each image, for a log line: "each averaged with its
    mirror image" ("flip" or True), "each averaged over its 10 views (flip, shift)", "each as it is"."""
    views, words = tta_views(tta), sorted(set(_tta_words(tta)))
    if len(views) == 1:
        return "each as it is"
    return f"each averaged with {TTA_WORDS['flip']}" if words == ["flip"] else \
        f"each averaged over its {len(views)} views ({', '.join(words)})"


def predict_scores(model, dataset: Dataset, batch_size: int = EVAL_BATCH_SIZE, normalize=None,
                   view: View = View(), world=None) -> np.ndarray:
    """The model's class scores (N, C) for every example, in inference mode and in order.

    Args:
        model: a built model (e.g. a Sequential) whose output is (N, C), for the dataset's image shape.
        dataset: the examples; their labels are not used.
        batch_size: examples per forward pass (only memory depends on it).
        normalize: the Normalization the model was trained with, or None.
        view: the View of test-time augmentation to score: every image shifted by view.shift
            pixels (zeros brought in, before normalising), then mirrored if view.mirror;
            View() (the default) scores the images as they are.
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
        scores = [model.forward(x) for x in view_batches(part, view, batch_size, normalize)]
        if not scores:  # a rank whose share is empty
            scores = [np.empty((0, *model.output_shape(dataset.image_shape)), model.dtype)]
        scores = np.concatenate(scores)
        return scores if world is None else world.gather(scores)
    finally:
        model.train(was_training)


def view_batches(dataset: Dataset, view: View = View(), batch_size: int = EVAL_BATCH_SIZE, normalize=None):
    """The dataset's images in order, as a model sees them in one view of test-time augmentation:
    batches x (B, D, H, W) float32, shifted before normalising (so the zeros brought in are black),
    then mirrored (a view of the normalised batch)."""
    shifted = None if view.shift == (0, 0) else (
        lambda images, rng: translate(images, np.broadcast_to(np.asarray(view.shift), (len(images), 2))))
    for x, _ in iterate_batches(dataset, batch_size, shuffle=False, augment=shifted, normalize=normalize):
        yield x[..., ::-1] if view.mirror else x


def average_views(scores_of, tta) -> np.ndarray:
    """The mean over the views of tta_views(tta) of softmax(scores_of(view)): probabilities (N, C) in
    float64. scores_of(View) -> (N, C) scores of every image in that view (the image itself first)."""
    views = tta_views(tta)
    probabilities = softmax(scores_of(views[0]))
    for view in views[1:]:
        probabilities = probabilities + softmax(scores_of(view))
    return probabilities / len(views) if len(views) > 1 else probabilities


def softmax(scores: np.ndarray) -> np.ndarray:
    """Probabilities (N, C) from scores (N, C), computed stably in float64."""
    return np.exp(log_softmax(np.asarray(scores, dtype=np.float64)))


def predict_proba(model, dataset: Dataset, batch_size: int = EVAL_BATCH_SIZE, normalize=None,
                  tta: bool | str = False, world=None) -> np.ndarray:
    """Class probabilities (N, C) = softmax of the scores, in float64; arguments as predict_scores.

    tta (test-time augmentation, module doc): classify each image in the views of tta_views(tta)
    and average their probabilities. True or "flip" (the image and its mirror) suits models
    trained with horizontal flips (on Fashion-MNIST it added 0.4 % test accuracy,
    docs/performance.md); "shift" suits models trained with crop. Each view costs one pass.
    """
    return _probabilities(predict_scores(model, dataset, batch_size, normalize, world=world), model, dataset,
                          batch_size, normalize, tta, world)


def _probabilities(scores, model, dataset, batch_size, normalize, tta, world):
    """softmax(scores) of the image itself, averaged with those of the other views of tta (predict_proba)."""
    return average_views(lambda view: scores if view == View() else
                         predict_scores(model, dataset, batch_size, normalize, view, world), tta)


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
        probabilities: (N, C) softmax of the scores (with tta: averaged over the views).
        class_names: C names.
        tta: the test-time augmentation measured with (tta_views): False, True (its mirror image), or
            its words, e.g. "flip,shift".
    """

    loss: float | None
    accuracy: float
    confusion: np.ndarray
    predictions: np.ndarray
    probabilities: np.ndarray
    class_names: list[str]
    tta: bool | str = False

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
            "tta_views": len(tta_views(self.tta)),
        }


def evaluate(model, dataset: Dataset, batch_size: int = EVAL_BATCH_SIZE, normalize=None, loss=None,
             tta: bool | str = False, world=None) -> Evaluation:
    """Accuracy, per-class accuracy, confusion matrix (and mean loss) of a model on a dataset.

    Args:
        model: a built model giving (N, C) scores, with C = len(dataset.class_names).
        dataset: labelled examples.
        batch_size, normalize: as predict_scores.
        loss: a loss object (scores, labels) -> (loss, dscores), e.g. SoftmaxCrossEntropy(); optional.
        tta: average each image's probabilities over the views of tta_views(tta) (predict_proba);
            the loss is then computed on their logarithms as scores, which for cross-entropy is the
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
        if len(tta_views(tta)) > 1:
            scores = np.log(np.maximum(probabilities, np.finfo(np.float64).tiny))  # their softmax: probabilities
        predictions = probabilities.argmax(axis=1)
        mean_loss = None if loss is None else float(loss(scores, dataset.labels)[0])
    return Evaluation(mean_loss, accuracy(predictions, dataset.labels),
                      confusion_matrix(dataset.labels, predictions, classes), predictions, probabilities,
                      list(dataset.class_names), tta)
