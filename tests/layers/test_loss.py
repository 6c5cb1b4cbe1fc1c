"""The losses: softmax cross-entropy (with label smoothing) and the SVM hinge — their label
checks, their gradients against centred differences, and parity with torch."""

import numpy as np
import pytest

import volnet as v
from volnet.gradients.every_layer import TOLERANCE as GRADIENT_TOLERANCE, svm_scores
from volnet.gradients.numerical import check_loss_gradient
from tests.layers.cases import F, TOLERANCE, needs_torch, tensor, torch


def test_losses_check_scores_against_labels():
    # the losses are not layers (they return dscores themselves) but refuse mismatched shapes just as clearly
    with pytest.raises(ValueError, match=r"labels must be \(N,\) = \(4,\) to match the scores, got shape \(3,\)"):
        v.SoftmaxCrossEntropy()(np.zeros((4, 10), np.float32), np.zeros(3, np.int64))
    with pytest.raises(ValueError, match=r"a classification loss wants scores \(N, C\), got shape \(4, 10, 1, 1\)"):
        v.SVMLoss()(np.zeros((4, 10, 1, 1), np.float32), np.zeros(4, np.int64))


def test_labels_checked_by_losses():
    scores = np.zeros((3, 4), np.float32)
    with pytest.raises(ValueError, match=r"labels must be in \[0, 4\) for 4 classes, got values from 0 to 7"):
        v.SoftmaxCrossEntropy()(scores, np.array([0, 7, 1]))
    with pytest.raises(ValueError, match=r"labels must be \(N,\) = \(3,\)"):
        v.SVMLoss()(scores, np.array([0, 1]))
    with pytest.raises(TypeError, match="whole class indices"):
        v.SoftmaxCrossEntropy()(scores, np.array([0.0, 1.0, 2.0]))


@pytest.mark.parametrize("smoothing", [0.0, 0.1])
def test_softmax_cross_entropy_gradient(smoothing):
    rng = np.random.default_rng(0)
    scores, labels = rng.standard_normal((6, 5)), rng.integers(0, 5, 6)
    assert check_loss_gradient(v.SoftmaxCrossEntropy(smoothing), scores, labels) < GRADIENT_TOLERANCE


def test_svm_loss_gradient():
    scores, labels = svm_scores(seed=0)
    assert check_loss_gradient(v.SVMLoss(), scores, labels) < GRADIENT_TOLERANCE


@needs_torch
@pytest.mark.parametrize("smoothing", [0.0, 0.1])
def test_softmax_cross_entropy(smoothing):
    rng = np.random.default_rng(0)
    scores, labels = (rng.standard_normal((8, 10)) * 5).astype(np.float32), rng.integers(0, 10, 8)
    loss, dscores = v.SoftmaxCrossEntropy(smoothing)(scores, labels)
    scores_t = tensor(scores)
    loss_t = F.cross_entropy(scores_t, torch.tensor(labels), label_smoothing=smoothing)
    loss_t.backward()
    np.testing.assert_allclose(loss, loss_t.item(), **TOLERANCE)
    np.testing.assert_allclose(dscores, scores_t.grad.numpy(), **TOLERANCE)


@needs_torch
def test_svm_loss_is_multi_margin_times_classes():
    rng = np.random.default_rng(0)
    scores, labels = rng.standard_normal((8, 5)).astype(np.float32), rng.integers(0, 5, 8)
    loss, dscores = v.SVMLoss(margin=1.0)(scores, labels)
    scores_t = tensor(scores)
    # PyTorch's MultiMarginLoss divides by the number of classes C; CS231n's hinge does not
    loss_t = F.multi_margin_loss(scores_t, torch.tensor(labels), margin=1.0) * 5
    loss_t.backward()
    np.testing.assert_allclose(loss, loss_t.item(), **TOLERANCE)
    np.testing.assert_allclose(dscores, scores_t.grad.numpy(), **TOLERANCE)


@needs_torch
def test_stable_softmax_with_huge_scores():
    scores = np.array([[1000.0, 0.0, -1000.0]], dtype=np.float32)
    loss, dscores = v.SoftmaxCrossEntropy()(scores, np.array([0]))
    assert loss == 0.0 and np.all(np.isfinite(dscores))
    loss_t = F.cross_entropy(torch.tensor(scores), torch.tensor([2]))
    np.testing.assert_allclose(v.SoftmaxCrossEntropy()(scores, np.array([2]))[0], loss_t.item(), rtol=1e-6)
