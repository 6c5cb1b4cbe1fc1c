"""Inverted dropout (see volnet.ops.dropout)."""

from __future__ import annotations

import numpy as np

from volnet.layers.base import Layer
from volnet.ops.dropout import dropout_backward, dropout_forward


class Dropout(Layer):
    """In training, zero each number with probability `rate` and scale the rest by 1/(1 − rate);
    in inference, pass x through.

    Args:
        rate: p, the probability of dropping a number, in [0, 1).
        seed: seeds the layer's own random generator (its state is part of a checkpoint).
    """

    def __init__(self, rate: float = 0.5, seed: int | None = None):
        super().__init__()
        if not 0 <= rate < 1:
            raise ValueError(f"Dropout rate must be in [0, 1), got {rate}")
        self.rate, self.seed = rate, seed
        self.rng = np.random.default_rng(seed)

    def forward(self, x):
        out, self.cache = dropout_forward(self.check_input(x), self.rate, self.rng, self.training)
        return out

    def backward(self, dout):
        return dropout_backward(dout, self.cache)
