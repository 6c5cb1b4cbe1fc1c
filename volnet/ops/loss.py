"""Classification losses on class scores (N, C) and integer labels (N,).

Softmax cross-entropy, computed through log-sum-exp so that large scores never overflow:
    log p_c = s_c − max(s) − log Σ_j exp(s_j − max(s))
    L = −(1/N) Σ_n Σ_c t_nc · log p_nc,   t = (1 − ε)·onehot(y) + ε/C  (label smoothing ε)
    ∂L/∂s = (p − t)/N

Multiclass SVM (hinge) loss, as in CS231n (PyTorch's MultiMarginLoss is this divided by C):
    L = (1/N) Σ_n Σ_{j ≠ y_n} max(0, s_j − s_{y_n} + Δ)
    ∂L/∂s_j = 1[margin_j > 0]/N for j ≠ y;  ∂L/∂s_y = −(number of positive margins)/N

Each function returns (loss, dscores). The loss is summed with math.fsum, which rounds
exactly: the same scores give the same loss to the last bit whatever their memory layout
(NumPy's pairwise sums can differ by an ulp with alignment), so resumed runs and gradient
checks are reproducible.
"""

from __future__ import annotations

import math

import numpy as np


def check_labels(scores, labels):
    """Raise a clear error unless scores is (N, C) and labels (N,) whole numbers in [0, C)."""
    if scores.ndim != 2:
        raise ValueError(f"a classification loss wants scores (N, C), got shape {scores.shape}")
    labels = np.asarray(labels)
    if labels.shape != (len(scores),):
        raise ValueError(f"labels must be (N,) = ({len(scores)},) to match the scores, got shape {labels.shape}")
    if not np.issubdtype(labels.dtype, np.integer):
        raise TypeError(f"labels must be whole class indices, got dtype {labels.dtype}")
    if len(labels) and (labels.min() < 0 or labels.max() >= scores.shape[1]):
        raise ValueError(f"labels must be in [0, {scores.shape[1]}) for {scores.shape[1]} classes, "
                         f"got values from {labels.min()} to {labels.max()}")
    return labels


def log_softmax(scores):
    """Stable log-probabilities (N, C)."""
    shifted = scores - scores.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


def softmax_cross_entropy(scores, labels, label_smoothing=0.0):
    """Mean cross-entropy of softmax(scores) against labels; returns (loss, dscores (N, C))."""
    labels = check_labels(scores, labels)
    if not 0 <= label_smoothing < 1:
        raise ValueError(f"label_smoothing must be in [0, 1), got {label_smoothing}")
    n_examples, classes = scores.shape
    log_probs = log_softmax(scores)
    target = np.full(scores.shape, label_smoothing / classes, dtype=scores.dtype)
    target[np.arange(n_examples), labels] += 1 - label_smoothing
    loss = -math.fsum((target * log_probs).ravel()) / n_examples
    dscores = (np.exp(log_probs) - target) / n_examples
    return loss, dscores.astype(scores.dtype, copy=False)


def svm_loss(scores, labels, margin=1.0):
    """Mean multiclass hinge loss; returns (loss, dscores (N, C))."""
    labels = check_labels(scores, labels)
    n_examples = len(scores)
    rows = np.arange(n_examples)
    margins = np.maximum(0, scores - scores[rows, labels][:, None] + margin)
    margins[rows, labels] = 0
    positive = (margins > 0).astype(scores.dtype)
    positive[rows, labels] = -positive.sum(axis=1)
    return math.fsum(margins.ravel()) / n_examples, positive / n_examples
