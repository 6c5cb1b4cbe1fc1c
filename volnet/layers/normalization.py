"""Batch normalisation for vectors (N, D) and for volumes (N, D, H, W), per depth slice."""

from __future__ import annotations

import numpy as np

from volnet.distributed.world import World
from volnet.layers.base import Layer, Parameter
from volnet.ops.batchnorm import batchnorm_backward, batchnorm_forward


class BatchNorm(Layer):
    """Normalise each feature (each depth slice of a volume) over the batch, then scale and shift.

    In training the batch's mean and variance are used and running averages are kept; in
    inference (`eval()`) the running averages are used. See volnet.ops.batchnorm.

    When the batch is spread over the ranks of a distributed run, the layer's `world`
    (volnet.distributed.World, set by World.attach) adds up the ranks' sums, so that the
    statistics are the whole batch's (SyncBN); by default the batch is all in this process.

    Args:
        momentum: m in running ← (1 − m)·running + m·batch statistic (PyTorch's convention).
        eps: ε added to the variance.

    Parameters: gamma (D,), beta (D,); running statistics running_mean, running_var (D,)
    are saved but not trained. Shapes: (N, D) -> (N, D) or (N, D, H, W) -> (N, D, H, W).
    """

    def __init__(self, momentum: float = 0.1, eps: float = 1e-5):
        super().__init__()
        self.momentum, self.eps = momentum, eps
        self.world = World()

    def output_shape(self, input_shape):
        self.expect_rank(input_shape, (1, 3), "a vector D or a volume D×H×W")
        return tuple(input_shape)

    def _create_parameters(self, input_shape, rng):
        depth = input_shape[0]
        self.gamma = Parameter(np.ones(depth, dtype=self.dtype))
        self.beta = Parameter(np.zeros(depth, dtype=self.dtype))
        self.running_mean = Parameter(np.zeros(depth, dtype=self.dtype), trainable=False)
        self.running_var = Parameter(np.ones(depth, dtype=self.dtype), trainable=False)

    def forward(self, x):
        x = self.check_input(x)
        out, self.cache = batchnorm_forward(x, self.gamma.data, self.beta.data, self.running_mean.data,
                                            self.running_var.data, self.training, self.momentum, self.eps,
                                            self.world.sum)
        return out

    def backward(self, dout):
        dx, dgamma, dbeta = batchnorm_backward(dout, self.cache)
        self._accumulate(gamma=dgamma, beta=dbeta)
        return dx
