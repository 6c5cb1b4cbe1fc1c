import numpy as np
import pytest

from volnet.viz.curves import plot_training_curves, training_curves_figure
from volnet.viz.evaluation import (confusion_matrix_figure, misclassified_figure, plot_confusion_matrix,
                                   plot_misclassified)

CLASSES = ["cat", "dog", "bird"]


def history(epochs, validation=True):
    rng = np.random.default_rng(0)
    return [{"epoch": e, "train_loss": 1 / e, "train_accuracy": 0.5 + 0.04 * e,
             "val_loss": 1.2 / e + rng.random() * 0.01 if validation else None,
             "val_accuracy": 0.45 + 0.04 * e if validation else None, "lr": 0.01, "seconds": 1.0}
            for e in range(1, epochs + 1)]


def test_curves_plot_training_and_validation_per_epoch(tmp_path):
    records = history(5)
    figure = training_curves_figure(records)
    loss, accuracy = figure.axes
    assert [line.get_label() for line in loss.lines] == ["training", "validation"]
    np.testing.assert_array_equal(loss.lines[0].get_xdata(), [1, 2, 3, 4, 5])
    np.testing.assert_allclose(accuracy.lines[1].get_ydata(), [r["val_accuracy"] for r in records])
    path = plot_training_curves(records, tmp_path / "run" / "curves.png")
    assert path.is_file() and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_curves_without_a_validation_set_draw_training_only():
    loss, accuracy = training_curves_figure(history(3, validation=False)).axes
    assert [line.get_label() for line in loss.lines] == ["training"]
    with pytest.raises(ValueError, match="need a history"):
        training_curves_figure([])


def test_confusion_matrix_writes_every_count_with_class_names(tmp_path):
    matrix = np.array([[5, 1, 0], [2, 7, 1], [0, 0, 4]])
    axes = confusion_matrix_figure(matrix, CLASSES).axes[0]
    counts = {(int(round(t.get_position()[1])), int(round(t.get_position()[0]))): t.get_text() for t in axes.texts}
    assert counts == {(r, c): str(matrix[r, c]) for r in range(3) for c in range(3)}
    assert [t.get_text() for t in axes.get_yticklabels()] == CLASSES
    assert "16 of 20 right" in axes.get_title()
    assert plot_confusion_matrix(matrix, CLASSES, tmp_path / "confusion.png").is_file()
    with pytest.raises(ValueError, match="3×3"):
        confusion_matrix_figure(np.zeros((2, 2)), CLASSES)


def test_misclassified_grid_titles_true_and_predicted(tmp_path):
    images = np.random.default_rng(1).integers(0, 256, (5, 1, 8, 8), dtype=np.uint8)
    labels, predictions = np.array([0, 1, 2, 0, 1]), np.array([1, 2, 0, 2, 0])
    figure = misclassified_figure(images, labels, predictions, CLASSES)
    panels = [axes for axes in figure.axes if axes.images]
    assert len(panels) == 5
    np.testing.assert_array_equal(panels[3].images[0].get_array(), images[3, 0])
    assert panels[3].get_title() == "cat" and panels[3].texts[0].get_text() == "bird"
    rgb = np.zeros((2, 3, 4, 4), np.uint8)
    assert plot_misclassified(rgb, [0, 1], [1, 0], CLASSES, tmp_path / "wrong.png").is_file()
    with pytest.raises(ValueError, match="one label and one prediction per image"):
        misclassified_figure(images, labels[:2], predictions, CLASSES)


def test_curves_name_their_y_axes_and_show_accuracy_in_percent():
    loss, accuracy = training_curves_figure(history(4)).axes
    assert loss.get_ylabel() == "cross-entropy loss (mean per example)" and accuracy.get_ylabel() == "accuracy"
    percent = accuracy.yaxis.get_major_formatter()(0.8)  # the history keeps fractions; the ticks say percent
    assert percent.startswith("80") and percent.endswith("%")
