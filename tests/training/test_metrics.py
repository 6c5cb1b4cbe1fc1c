"""Accuracy, confusion matrix, per-class accuracy, evaluate and predict_proba."""

import numpy as np
import pytest

from volnet.data import Dataset, channel_stats
from volnet.layers import SoftmaxCrossEntropy
from volnet.models import build_model
from volnet.training import accuracy, confusion_matrix, evaluate, per_class_accuracy, predict_proba


def test_confusion_matrix_by_hand():
    labels = [0, 0, 1, 2, 2, 2]
    predictions = [0, 1, 1, 2, 0, 2]
    confusion = confusion_matrix(labels, predictions, 3)
    assert confusion.tolist() == [[1, 1, 0], [0, 1, 0], [1, 0, 2]]
    assert np.allclose(per_class_accuracy(confusion), [1 / 2, 1, 2 / 3])
    assert accuracy(predictions, labels) == 4 / 6


def test_a_class_without_examples_has_no_accuracy():
    assert np.isnan(per_class_accuracy(confusion_matrix([0, 0], [0, 1], 3))[2])


def test_accuracy_wants_matching_shapes():
    with pytest.raises(ValueError, match="one shape"):
        accuracy([0, 1], [0, 1, 2])


def test_evaluate_agrees_with_predict_proba(small_split):
    _, val_set = small_split
    normalize = channel_stats(val_set)
    model = build_model("conv3-4 relu pool fc10", (1, 28, 28), seed=0)
    result = evaluate(model, val_set, batch_size=50, normalize=normalize, loss=SoftmaxCrossEntropy())
    probabilities = predict_proba(model, val_set, batch_size=7, normalize=normalize)
    assert np.allclose(probabilities.sum(axis=1), 1)
    assert np.array_equal(result.predictions, probabilities.argmax(axis=1))
    assert np.allclose(result.probabilities, probabilities, atol=1e-6)  # batching changes float32 rounding only
    assert result.confusion.sum() == len(val_set)
    assert result.accuracy == np.trace(result.confusion) / len(val_set)
    assert result.loss == pytest.approx(-np.mean(np.log(probabilities[np.arange(len(val_set)), val_set.labels])),
                                        rel=1e-5)
    report = result.report()
    assert "T-shirt/top" in report and "confusion matrix" in report
    assert result.to_dict()["confusion_matrix"] == result.confusion.tolist()


def test_evaluation_leaves_training_mode_on():
    model = build_model("fc3", (1, 2, 2), seed=0)
    data = Dataset(np.zeros((4, 1, 2, 2), np.uint8), [0, 1, 2, 0], ["a", "b", "c"])
    evaluate(model, data)
    assert model.training


def test_wrong_image_shape_or_class_count_is_explained():
    data = Dataset(np.zeros((4, 1, 2, 2), np.uint8), [0, 1, 0, 1], ["a", "b"])
    with pytest.raises(ValueError, match="takes 3×3×1 images but"):
        evaluate(build_model("fc2", (1, 3, 3)), data)
    with pytest.raises(ValueError, match="gives 3 class scores but .* has 2 classes"):
        evaluate(build_model("fc3", (1, 2, 2)), data)


def test_tta_averages_each_image_with_its_mirror_image(small_split):
    _, val_set = small_split
    normalize = channel_stats(val_set)
    model = build_model("conv3-4 relu pool fc10", (1, 28, 28), seed=0)
    mirrored = Dataset(np.ascontiguousarray(val_set.images[..., ::-1]), val_set.labels, val_set.class_names)
    expected = (predict_proba(model, val_set, normalize=normalize) + predict_proba(model, mirrored, normalize=normalize)) / 2
    assert not np.allclose(expected, predict_proba(model, val_set, normalize=normalize), atol=1e-3)  # the mirror counts
    np.testing.assert_allclose(predict_proba(model, val_set, normalize=normalize, tta=True), expected, atol=1e-12)
    result = evaluate(model, val_set, normalize=normalize, loss=SoftmaxCrossEntropy(), tta=True)
    np.testing.assert_allclose(result.probabilities, expected, atol=1e-12)
    assert np.array_equal(result.predictions, expected.argmax(axis=1)) and result.to_dict()["tta"] is True
    # the loss is the cross-entropy of the averaged probabilities
    assert result.loss == pytest.approx(-np.mean(np.log(expected[np.arange(len(val_set)), val_set.labels])), rel=1e-6)
