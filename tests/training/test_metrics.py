"""Accuracy, confusion matrix, per-class accuracy, evaluate and predict_proba."""

import numpy as np
import pytest

from volnet.data import Dataset, channel_stats
from volnet.data.augment import translate
from volnet.errors import SettingError
from volnet.layers import SoftmaxCrossEntropy
from volnet.models import build_model
from volnet.training import (accuracy, confusion_matrix, evaluate, per_class_accuracy, predict_proba, predict_scores,
                             softmax)
from volnet.training.metrics import View, describe_tta, tta_views, view_batches


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


# -- test-time augmentation: its views ----------------------------------------------------------

def test_the_views_of_each_tta():
    assert tta_views(False) == tta_views(None) == tta_views("") == (View(),)
    assert tta_views(True) == tta_views("flip") == tta_views(" Flip ") == (View(), View(mirror=True))
    assert [view.shift for view in tta_views("shift")] == [(0, 0), (1, 0), (-1, 0), (0, 1), (0, -1)]
    both = tta_views("flip,shift")
    assert len(both) == len(set(both)) == 10 and both[:2] == tta_views("flip")
    assert {view.shift for view in both} == {view.shift for view in tta_views("shift")}
    assert describe_tta(True) == "each averaged with its mirror image"
    assert describe_tta("shift,flip") == "each averaged over its 10 views (flip, shift)"


@pytest.mark.parametrize("tta, message", [("flop", "unknown tta view 'flop': use 'flip' (its mirror image), 'shift'"),
                                          ("flip,rotate", "unknown tta view 'rotate'"),
                                          (3, "tta must be True, False or view words")])
def test_an_unknown_view_is_named(tta, message):
    with pytest.raises(SettingError) as caught:
        tta_views(tta)
    assert str(caught.value).startswith(message) and caught.value.setting == "tta"


@pytest.fixture(scope="module")
def scored(sample_train):
    # 37 examples (not a whole number of batches), a model with batch norm, and its normalisation
    data = sample_train.subset(slice(0, 37))
    model = build_model("conv3-4 bn relu pool fc10", (1, 28, 28), seed=0)
    model.train()
    model.forward(np.random.default_rng(0).standard_normal((8, 1, 28, 28)).astype(np.float32))  # running stats
    return model.eval(), data, channel_stats(data)


def test_tta_true_is_the_mirror_average_of_before(scored):
    # what tta=True computed before views had names: (p + p_mirrored) / 2, to the bit
    model, data, normalize = scored
    plain = softmax(predict_scores(model, data, 10, normalize))
    mirrored = softmax(predict_scores(model, data, 10, normalize, View(mirror=True)))
    for tta in (True, "flip"):
        assert np.array_equal(predict_proba(model, data, 10, normalize, tta=tta), (plain + mirrored) / 2)
    assert evaluate(model, data, 10, normalize, tta=True).to_dict()["tta"] is True


def test_a_shifted_view_is_the_translated_image_with_black_brought_in(scored):
    model, data, normalize = scored
    for shift in ((1, 0), (0, -1), (-1, 0)):
        moved = Dataset(translate(data.images, np.tile(shift, (len(data), 1))), data.labels, data.class_names)
        assert np.array_equal(predict_scores(model, data, 10, normalize, View(shift=shift)),
                              predict_scores(model, moved, 10, normalize))
    x = next(view_batches(data, View(shift=(1, 0)), 5, normalize))
    assert np.allclose(x[:, :, 0], -normalize.mean[0] / normalize.std[0])  # the top row is black, normalised


def test_ten_views_average_each_view_s_probabilities(scored):
    model, data, normalize = scored
    expected = np.zeros((len(data), 10))
    for view in tta_views("flip,shift"):
        moved = Dataset(translate(data.images, np.tile(view.shift, (len(data), 1))), data.labels, data.class_names)
        expected += softmax(predict_scores(model, moved, 10, normalize, View(mirror=view.mirror)))
    probabilities = predict_proba(model, data, 10, normalize, tta="flip,shift")
    np.testing.assert_allclose(probabilities, expected / 10, rtol=1e-12, atol=1e-15)
    result = evaluate(model, data, 10, normalize, loss=SoftmaxCrossEntropy(), tta="flip,shift")
    assert np.array_equal(result.probabilities, probabilities) and result.to_dict()["tta_views"] == 10
    assert result.loss == pytest.approx(-np.mean(np.log(probabilities[np.arange(len(data)), data.labels])))
