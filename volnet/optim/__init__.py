"""Optimizers and learning-rate schedules."""

from volnet.optim.optimizers import OPTIMIZERS, SGD, Adagrad, Adam, AdamW, Optimizer, RMSProp, make_optimizer
from volnet.optim.schedules import (SCHEDULES, Constant, Cosine, OneCycle, Schedule, Step, Warmup,
                                    make_schedule)

__all__ = [
    "OPTIMIZERS", "SCHEDULES", "SGD", "Adagrad", "Adam", "AdamW", "Constant", "Cosine", "OneCycle", "Optimizer",
    "RMSProp", "Schedule", "Step", "Warmup", "make_optimizer", "make_schedule",
]
