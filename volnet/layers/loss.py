"""Loss objects: call with class scores (N, C) and labels (N,); get (loss, dscores)."""

from __future__ import annotations

from volnet.ops.loss import softmax_cross_entropy, svm_loss


class SoftmaxCrossEntropy:
    """Mean softmax cross-entropy, computed stably; label_smoothing ε spreads ε over all classes."""

    def __init__(self, label_smoothing: float = 0.0):
        self.label_smoothing = label_smoothing

    def __call__(self, scores, labels):
        return softmax_cross_entropy(scores, labels, self.label_smoothing)

    def __repr__(self):
        return f"SoftmaxCrossEntropy(label_smoothing={self.label_smoothing})"


class SVMLoss:
    """Mean multiclass hinge loss of CS231n with margin Δ."""

    def __init__(self, margin: float = 1.0):
        self.margin = margin

    def __call__(self, scores, labels):
        return svm_loss(scores, labels, self.margin)

    def __repr__(self):
        return f"SVMLoss(margin={self.margin})"
