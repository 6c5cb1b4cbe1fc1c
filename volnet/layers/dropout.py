"""Inverted dropout (see volnet.ops.dropout)."""

from __future__ import annotations

import math

import numpy as np

from volnet.distributed.world import World
from volnet.gradients.numerical import VOLUME, LayerCase, away_from_zero
from volnet.layers.base import Layer
from volnet.layers.cost import Cost
from volnet.layers.registry import register
from volnet.layers.twin import Module
from volnet.layers.words import NUMBER, Word
from volnet.ops.dropout import dropout_backward, dropout_forward


@register
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

    word = Word("dropout", f"dropout{NUMBER}?", "dropout<p>, e.g. dropout0.5", "dropout0.5")
    elementwise = True

    def __init__(self, rate: float = 0.5, seed: int | None = None):
        super().__init__()
        if not 0 <= rate < 1:
            raise ValueError(f"Dropout rate must be in [0, 1), got {rate}")
        self.rate, self.seed = rate, seed
        self.rng = np.random.default_rng(seed)
        self.world = World()

    def _forward(self, x):
        out, self.cache = dropout_forward(x, self.rate, self.rng, self.training,
                                          lambda: self.world.rows(len(x)))
        return out

    def _backward(self, dout):
        return dropout_backward(dout, self.cache)

    # -- what the layer is ---------------------------------------------------------------------
    @classmethod
    def from_word(cls, numbers, options, rng):
        """dropout<p> (p = 0.5 by default), seeded from rng."""
        seed = None if rng is None else int(rng.integers(2**31))
        return cls(float(numbers[0] or 0.5), seed=seed)

    def cost(self, input_shape, output_shape):
        """Nothing in inference, which passes the input through."""
        return Cost(0, 0, math.prod(output_shape))

    def summary_name(self):
        return f"Dropout(rate={self.rate:g})"  # its seed says how it draws, not what it computes

    def describe(self):
        return f"dropout {self.rate:g}"

    def torch_modules(self):
        return [Module("Dropout", {"p": self.rate})]

    def to_onnx(self, graph, name, x):
        """Nothing: dropout is the identity at inference."""
        return x

    @classmethod
    def gradient_cases(cls):
        return (LayerCase("dropout 0.3", lambda: cls(0.3, seed=4), away_from_zero(VOLUME)),)
