"""Inverted dropout (see volnet.ops.dropout)."""

from __future__ import annotations

import numpy as np

from volnet.distributed.world import World
from volnet.layers.base import Layer
from volnet.ops.dropout import dropout_backward, dropout_forward


class Dropout(Layer):
    """In training, zero each number with probability `rate` and scale the rest by 1/(1 − rate);
    in inference, pass x through.

    Args:
        rate: p, the probability of dropping a number, in [0, 1).
        seed: seeds the layer's own random generator (its state is part of a checkpoint).

    When the batch is spread over the ranks of a distributed run, the layer's `world`
    (volnet.distributed.World, set by World.attach) says which rows of the whole batch this
    rank holds: the mask is drawn for the whole batch and those rows kept, so the masks do
    not depend on the number of ranks.
    """

    def __init__(self, rate: float = 0.5, seed: int | None = None):
        super().__init__()
        if not 0 <= rate < 1:
            raise ValueError(f"Dropout rate must be in [0, 1), got {rate}")
        self.rate, self.seed = rate, seed
        self.rng = np.random.default_rng(seed)
        self.world = World()

    def forward(self, x):
        x = self.check_input(x)
        out, self.cache = dropout_forward(x, self.rate, self.rng, self.training,
                                          lambda: self.world.rows(len(x)))
        return out

    def backward(self, dout):
        return dropout_backward(dout, self.cache)
