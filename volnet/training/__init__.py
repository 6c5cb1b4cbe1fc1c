"""Training: the loop, its checkpoints, metrics, sanity checks and divergence reports.

    trainer      Trainer: mini-batch steps, validation, early stopping, checkpoints, resume
    checkpoint   Checkpoint, save_checkpoint, load_checkpoint (atomic, checksummed .npz + JSON)
    metrics      evaluate, predict_proba, accuracy, confusion_matrix, per_class_accuracy
    divergence   DivergenceError, NonFiniteError, locate_non_finite: a blown-up loss; where NaN or inf
                 first appeared
    sanity       sanity_check: the initial loss against ln C, overfitting a tiny subset
    run          TrainingConfig, train, load_trained_model, resume_config: a whole run from a dataset name to a
                 saved model, and what resuming it may change
"""

from volnet.training.checkpoint import Checkpoint, load_checkpoint, model_generators, save_checkpoint
from volnet.training.divergence import DivergenceError, NonFiniteError, locate_non_finite
from volnet.training.metrics import (Evaluation, accuracy, confusion_matrix, evaluate, per_class_accuracy,
                                     predict_proba, predict_scores, softmax)
from volnet.training.run import TrainingConfig, TrainingResult, load_config, load_trained_model, resume_config, train
from volnet.training.sanity import SanityReport, sanity_check
from volnet.training.trainer import Trainer, format_epoch

__all__ = [
    "Checkpoint", "DivergenceError", "Evaluation", "NonFiniteError", "SanityReport", "Trainer", "TrainingConfig",
    "TrainingResult",
    "accuracy", "confusion_matrix", "evaluate", "format_epoch", "load_checkpoint", "load_config", "load_trained_model",
    "locate_non_finite", "model_generators", "per_class_accuracy", "predict_proba", "predict_scores", "resume_config",
    "sanity_check", "save_checkpoint", "softmax", "train",
]
