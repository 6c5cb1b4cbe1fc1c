"""A layer's PyTorch twin as plain data: which torch.nn modules compute the same function.

A layer's `torch_modules()` returns a list of `Module`s (volnet.bench.mirror builds them with
torch and loads the weights; volnet.interop writes safetensors files from the names without
torch). `names` maps the layer's array names to the module's state_dict names.
"""

from __future__ import annotations

from dataclasses import dataclass, field

WEIGHT_AND_BIAS = {"weight": "weight", "bias": "bias"}
BATCHES_TRACKED = "num_batches_tracked"  # a buffer of PyTorch's batch norm that volnet does not keep


@dataclass(frozen=True)
class Module:
    """One torch.nn module of the twin: its class in torch.nn, its constructor arguments, and
    for the module that holds a volnet layer's arrays, which volnet name is which torch name."""

    kind: str
    arguments: dict = field(default_factory=dict)
    names: dict = field(default_factory=dict)
