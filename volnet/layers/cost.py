"""What one example costs a layer, from its configuration and shapes alone (no weights needed).

A layer's `cost(input_shape, output_shape)` returns a `Cost`; volnet.models.summary adds them
up and states the conventions (what counts as a multiply-add, which memory counts). A conv
layer also answers `sharing(...)` with its `ParameterSharing`: the notes' parameter count
with and without parameter sharing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Cost:
    """One layer's cost for one example, in inference.

    Attributes:
        parameters: learnable numbers.
        multiply_adds: a·b + c counted once; None when the layer cannot say (left out of totals).
        activations: numbers of its output kept in memory (0 for a view of its input, as Flatten's).
        statistics: running statistics (batch norm's mean and variance): saved, not trained.
    """

    parameters: int
    multiply_adds: int | None
    activations: int
    statistics: int = 0


def one_per_number(output_shape) -> Cost:
    """The cost of a layer without parameters that does one multiply-add per output number."""
    outputs = math.prod(output_shape)
    return Cost(0, outputs, outputs)


@dataclass(frozen=True)
class ParameterSharing:
    """A conv layer's parameters, and what they would be without parameter sharing.

    Attributes:
        filter_size: (FH, FW). depth: D seen by one filter (D/G with groups). filters: K.
        bias: whether each filter has a bias. positions: OH·OW, the neurons of one depth slice.
        inputs: W·H·D, all the numbers of the input volume. outputs: OW·OH·K.
    """

    filter_size: tuple[int, int]
    depth: int
    filters: int
    bias: bool
    positions: int
    inputs: int
    outputs: int

    @property
    def per_filter(self) -> int:
        """F·F·D weights (+ 1 bias): one neuron's parameters, shared by its whole depth slice."""
        return math.prod(self.filter_size) * self.depth + self.bias

    @property
    def shared(self) -> int:
        return self.per_filter * self.filters

    @property
    def unshared(self) -> int:
        return self.shared * self.positions

    @property
    def fully_connected(self) -> int:
        return (self.inputs + self.bias) * self.outputs

    def formulas(self) -> tuple[str, str, str]:
        """The three counts written out: shared, without sharing, fully connected."""
        (fh, fw), plus = self.filter_size, " + 1" if self.bias else ""
        shared = f"({fh}·{fw}·{self.depth}{plus})·{self.filters} = {self.shared:,}"
        unshared = f"{self.shared:,}·{self.positions:,} = {self.unshared:,}"
        connected = f"({self.inputs:,}{plus})·{self.outputs:,} = {self.fully_connected:,}"
        return shared, unshared, connected
