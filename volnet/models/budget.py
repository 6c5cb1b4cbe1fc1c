"""Whether a model fits in memory, estimated from its architecture before anything is built.

An architecture string ("fc1000000000") or the architecture JSON inside a saved model can
describe a model far larger than the machine; building it would ask NumPy for the memory
and fail with a MemoryError (or swap for minutes). The estimate comes from the summary's
accounting (volnet.models.summary, shapes and configuration only, nothing allocated):

    bytes ≈ itemsize × (4 × parameters + 2 × batch × activations + running statistics)

4 copies of the parameters (the weights, their gradients and an optimizer's two moments, as
Adam keeps), 2 of each activation (forward and its gradient backward), per example of a
batch. The budget is volnet.limits.memory_budget (half the machine's memory by default,
$VOLNET_MEMORY_BUDGET to raise it).
"""

from __future__ import annotations

import numpy as np

from volnet.layers import Layer
from volnet.limits import check_memory, gib
from volnet.models.summary import summary_rows

PARAMETER_COPIES = 4  # weights, gradients, two optimizer moments
ACTIVATION_COPIES = 2  # forward output and its gradient


def memory_estimate(model: Layer, input_shape, dtype=np.float32, batch_size: int = 1) -> tuple[int, list]:
    """(bytes in all, [(row, bytes)] per summary row) for training `model` on batches of batch_size.

    Raises:
        ValueError: a layer that does not fit its input (as summary_rows).
    """
    itemsize = np.dtype(dtype).itemsize
    rows = summary_rows(model, input_shape)
    costs = [(row, itemsize * (PARAMETER_COPIES * row.parameters + ACTIVATION_COPIES * batch_size * row.activations
                               + row.statistics)) for row in rows]
    return sum(cost for _, cost in costs), costs


def check_model_memory(model: Layer, input_shape, dtype=np.float32, batch_size: int = 1,
                       source: str = "the model") -> int:
    """Refuse a model that would not fit the memory budget, naming its largest layer; return the estimate.

    Args:
        model: an unbuilt (or built) model.
        input_shape: (D, H, W) of one example.
        dtype: the dtype its parameters would get.
        batch_size: examples per batch (1 for a model that is only loaded or summarised).
        source: how the message names the model, e.g. "--arch 'fc1000000000'" or "model.npz".

    Raises:
        BudgetError: the estimate is over the budget.
        ValueError: a layer that does not fit its input.
    """
    total, costs = memory_estimate(model, input_shape, dtype, batch_size)
    row, largest = max(costs, key=lambda cost: cost[1])
    where = "its input" if row.index == "" else f"layer {row.index}, {row.layer}"
    batch = f" for batches of {batch_size}" if batch_size > 1 else ""
    check_memory(total, f"{source} (largest: {where}, {gib(largest)}{batch})")
    return total
