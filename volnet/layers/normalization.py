"""Batch normalisation for vectors (N, D) and for volumes (N, D, H, W), per depth slice."""

from __future__ import annotations

import math

import numpy as np

from volnet.distributed.world import World
from volnet.gradients.numerical import VOLUME, LayerCase, away_from_zero
from volnet.layers.activation import ReLU
from volnet.layers.base import Buffer, Layer, Parameter
from volnet.layers.cost import Cost
from volnet.layers.registry import register
from volnet.layers.twin import BATCHES_TRACKED, Module
from volnet.layers.words import Word
from volnet.ops.batchnorm import batchnorm_backward, batchnorm_forward

# volnet array name -> the name in torch.nn.BatchNorm's state_dict
_TORCH_NAMES = {"gamma": "weight", "beta": "bias", "running_mean": "running_mean", "running_var": "running_var",
                BATCHES_TRACKED: BATCHES_TRACKED}


@register
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

    Parameters: gamma (D,), beta (D,); Buffers (saved, not trained): running_mean, running_var (D,).
    Shapes: (N, D) -> (N, D) or (N, D, H, W) -> (N, D, H, W).
    """

    word = Word("bn", "bn", "bn", "bn")
    elementwise = True

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
        self.running_mean = Buffer(np.zeros(depth, dtype=self.dtype))
        self.running_var = Buffer(np.ones(depth, dtype=self.dtype))

    def _forward(self, x, rectify=False):
        out, self.cache = batchnorm_forward(x, self.gamma.data, self.beta.data, self.running_mean.data,
                                            self.running_var.data, self.training, self.momentum, self.eps,
                                            self.world.sum, rectify)
        return out

    def _backward(self, dout):
        dx, dgamma, dbeta = batchnorm_backward(dout, self.cache)
        self._accumulate(gamma=dgamma, beta=dbeta)
        return dx

    def absorbs(self, following):
        """A ReLU after batch norm: max(0, ·) is applied as each output is written, and its mask
        used as each gradient is read (volnet.ops.batchnorm, rectify=True)."""
        return isinstance(following, ReLU)

    def _forward_absorbing(self, x, relu):
        return self._forward(x, rectify=True)

    def _backward_absorbing(self, dout, relu):
        return self._backward(dout)

    # -- what the layer is ---------------------------------------------------------------------
    def cost(self, input_shape, output_shape):
        """2·D parameters and 2·D running statistics; one multiply-add per number (x·scale + shift,
        the running statistics folded in)."""
        outputs = math.prod(output_shape)
        return Cost(2 * input_shape[0], outputs, outputs, statistics=2 * input_shape[0])

    def describe(self):
        return "batch norm"

    def torch_modules(self):
        """BatchNorm2d for volumes, BatchNorm1d for vectors; gamma and beta are PyTorch's weight and bias."""
        kind = "BatchNorm2d" if len(self.input_shape) == 3 else "BatchNorm1d"
        return [Module(kind, dict(num_features=len(self.gamma.data), eps=self.eps, momentum=self.momentum),
                       _TORCH_NAMES)]

    def to_onnx(self, graph, name, x):
        """BatchNormalization in its inference form (epsilon; ONNX's momentum is 1 − volnet's)."""
        inputs = [x] + [graph.weight(f"{name}.{part}", getattr(self, part).data)
                        for part in ("gamma", "beta", "running_mean", "running_var")]
        return graph.node("BatchNormalization", inputs, name, epsilon=float(self.eps),
                          momentum=1 - float(self.momentum))

    def to_convnetjs(self, net):
        net.fold(self)

    @classmethod
    def gradient_cases(cls):
        return (LayerCase("batch norm (train), volume", cls, away_from_zero(VOLUME)),
                LayerCase("batch norm (train), vector", cls, away_from_zero((8, 5))))
