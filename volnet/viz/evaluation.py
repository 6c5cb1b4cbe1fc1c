"""How a trained classifier errs: its confusion matrix and the test images it gets wrong."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from volnet.viz import style


def confusion_matrix_figure(matrix, class_names):
    """Counts of (true class, predicted class), with the share of each true class in colour.

    Args:
        matrix: (C, C) counts; row = true class, column = predicted class.
        class_names: C names.

    Returns:
        A matplotlib Figure.

    Raises:
        ValueError: the matrix is not square or does not match the class names.
    """
    matrix = np.asarray(matrix)
    classes = len(class_names)
    if matrix.shape != (classes, classes):
        raise ValueError(f"a confusion matrix for {classes} classes is {classes}×{classes}, got shape {matrix.shape}")
    totals = matrix.sum(axis=1, keepdims=True)
    shares = np.divide(matrix, totals, out=np.zeros(matrix.shape), where=totals > 0)
    size = max(4.5, 0.55 * classes + 2.0)
    figure = style.new_figure(size + 1.2, size, layout="constrained")
    axes = figure.add_subplot()
    image = axes.imshow(shares, cmap="Blues", vmin=0, vmax=1)
    fontsize = 9 if classes <= 12 else 6
    for (row, column), count in np.ndenumerate(matrix):
        axes.text(column, row, str(count), ha="center", va="center", fontsize=fontsize,
                  color="white" if shares[row, column] > 0.55 else style.TEXT)
    axes.set_xticks(range(classes), class_names, rotation=45, ha="right", fontsize=9)
    axes.set_yticks(range(classes), class_names, fontsize=9)
    axes.set_xlabel("predicted class", fontsize=10)
    axes.set_ylabel("true class", fontsize=10)
    correct = int(np.trace(matrix))
    axes.set_title(f"confusion matrix: {correct} of {int(matrix.sum())} right "
                   f"({correct / max(int(matrix.sum()), 1):.1%})", fontsize=11)
    colour_bar = figure.colorbar(image, ax=axes, fraction=0.046, pad=0.03)
    colour_bar.set_label("share of the true class", fontsize=9)
    return figure


def plot_confusion_matrix(matrix, class_names, path) -> Path:
    """Write the confusion matrix (see confusion_matrix_figure) to `path` (.png)."""
    return style.save_figure(confusion_matrix_figure(matrix, class_names), path)


def misclassified_figure(images, labels, predictions, class_names, columns: int = 8):
    """A grid of images, each titled with its true and predicted class (wrong ones in orange).

    Args:
        images: (N, C, H, W) uint8, C = 1 (grayscale) or 3 (RGB).
        labels, predictions: (N,) class indices.
        class_names: a name per class index.
        columns: images per row.

    Returns:
        A matplotlib Figure.

    Raises:
        ValueError: shapes that do not match, or no images.
    """
    images, labels, predictions = np.asarray(images), np.asarray(labels), np.asarray(predictions)
    if images.ndim != 4 or images.shape[1] not in (1, 3):
        raise ValueError(f"images must be (N, C, H, W) with C = 1 or 3, got shape {images.shape}")
    if not len(images) or len(labels) != len(images) or len(predictions) != len(images):
        raise ValueError(f"need one label and one prediction per image: {len(images)} images, "
                         f"{len(labels)} labels, {len(predictions)} predictions")
    columns = min(columns, len(images))
    rows = math.ceil(len(images) / columns)
    tile = 1.35
    figure = style.new_figure(columns * tile + 0.2, rows * (tile + 0.45) + 0.45)
    width_in, height_in = figure.get_figwidth(), figure.get_figheight()
    figure.text(0.5, 1 - 0.08 / height_in, "misclassified test images: the true class above, "
                "the predicted class below it (orange)", ha="center", va="top", fontsize=11)
    for number, (image, label, prediction) in enumerate(zip(images, labels, predictions)):
        row, column = divmod(number, columns)
        axes = figure.add_axes(((0.1 + column * tile + 0.1) / width_in,
                                (height_in - 0.45 - (row + 1) * (tile + 0.45) + 0.1) / height_in,
                                (tile - 0.2) / width_in, (tile - 0.2) / height_in))
        axes.imshow(image[0] if image.shape[0] == 1 else image.transpose(1, 2, 0), cmap="gray", vmin=0, vmax=255,
                    interpolation="nearest")
        axes.set_xticks([])
        axes.set_yticks([])
        axes.set_title(class_names[int(label)], fontsize=8.5, pad=14, color=style.TEXT)
        axes.text(0.5, 1.02, class_names[int(prediction)], transform=axes.transAxes, ha="center", va="bottom",
                  fontsize=8.5, color=style.RESULT if label != prediction else style.AGREE)
    return figure


def plot_misclassified(images_uint8, labels, predictions, class_names, path) -> Path:
    """Write a grid of misclassified images (see misclassified_figure) to `path` (.png)."""
    return style.save_figure(misclassified_figure(images_uint8, labels, predictions, class_names), path)
