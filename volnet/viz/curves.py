"""Training curves: loss and accuracy per epoch, training against validation.

The notes' first look at a run: the loss should fall; a validation curve that turns up
while the training curve keeps falling is overfitting; accuracies far apart are the same
story told in percent.
"""

from __future__ import annotations

from pathlib import Path

from matplotlib.ticker import PercentFormatter

from volnet.viz import style

TRAIN = style.FIELD
VALIDATION = style.RESULT


def _series(history, key):
    """(epochs, values) for the epochs where `key` was measured (None entries skipped)."""
    points = [(record["epoch"], record[key]) for record in history if record.get(key) is not None]
    return [epoch for epoch, _ in points], [value for _, value in points]


def training_curves_figure(history):
    """Loss (left) and accuracy (right, in percent) per epoch, training and validation.

    Args:
        history: one dict per epoch with "epoch", "train_loss", "train_accuracy", and
            "val_loss", "val_accuracy" (None when there was no validation set).

    Returns:
        A matplotlib Figure.

    Raises:
        ValueError: an empty history, or records without "epoch".
    """
    history = list(history)
    if not history or any("epoch" not in record for record in history):
        raise ValueError("training curves need a history: one dict per epoch with at least 'epoch' and 'train_loss'")
    figure = style.new_figure(10, 3.8, layout="constrained")
    panels = (("loss", "loss", "cross-entropy loss (mean per example)"), ("accuracy", "accuracy", "accuracy"))
    for position, (quantity, title, meaning) in enumerate(panels, start=1):
        axes = figure.add_subplot(1, 2, position)
        for prefix, label, colour in (("train", "training", TRAIN), ("val", "validation", VALIDATION)):
            epochs, values = _series(history, f"{prefix}_{quantity}")
            if epochs:
                axes.plot(epochs, values, marker="o", markersize=4, color=colour, label=label, linewidth=1.8)
        axes.set_title(title, fontsize=11)
        axes.set_xlabel("epoch", fontsize=10)
        axes.set_ylabel(meaning, fontsize=10)
        if quantity == "accuracy":
            axes.yaxis.set_major_formatter(PercentFormatter(xmax=1))  # the history keeps fractions
        axes.grid(alpha=0.3)
        epochs = [record["epoch"] for record in history]
        if len(epochs) <= 20:
            axes.set_xticks(epochs)
        if axes.lines:
            axes.legend(fontsize=9)
    return figure


def plot_training_curves(history, path) -> Path:
    """Write the training curves of `history` (see training_curves_figure) to `path` (.png)."""
    return style.save_figure(training_curves_figure(history), path)
