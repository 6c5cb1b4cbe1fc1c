"""What the tests of tests/layers share: one case of every registered layer type (the first of
its own gradient cases, so that a new type is covered by registering it), and the PyTorch
parity check that every family's parity tests use."""

import numpy as np
import pytest

from volnet.gradients.every_layer import layer_cases
from volnet.layers.registry import layer_types

try:
    import torch
except ModuleNotFoundError:  # PyTorch is the parity reference; without it those tests skip
    torch = None

F = torch.nn.functional if torch is not None else None
needs_torch = pytest.mark.skipif(torch is None, reason="PyTorch 2.13 is the parity reference")

# All in float32. Tolerance: rtol 1e-4, atol 1e-5 — float32 carries ~7 digits and each
# output here sums at most a few hundred products, so the two libraries' different summation
# orders differ by ~1e-6 relative; 1e-4 leaves margin without hiding a wrong formula (which
# shows up at ~1e-1). Dropout has no parity test: its masks come from different generators.
TOLERANCE = dict(rtol=1e-4, atol=1e-5)


def one_case_per_type():
    """{class name: its first gradient case} for every registered layer type."""
    first = {}
    for case in layer_cases():
        first.setdefault(type(case.make()).__name__, case)
    assert first.keys() == layer_types().keys()
    return first


EVERY_TYPE = one_case_per_type()


def volume(shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def tensor(array):
    return torch.tensor(array, requires_grad=True)


def compare(layer, torch_fn, x, torch_params=(), seed=1):
    """Run layer and torch_fn(x_t) on the same x and dout; compare out, dx and the gradients
    of the named parameters, (volnet name, torch tensor) pairs."""
    out = layer.forward(x)
    dout = np.random.default_rng(seed).standard_normal(out.shape).astype(np.float32)
    dx = layer.backward(dout)
    x_t = tensor(x)
    out_t = torch_fn(x_t)
    out_t.backward(torch.tensor(dout))
    np.testing.assert_allclose(out, out_t.detach().numpy(), **TOLERANCE)
    np.testing.assert_allclose(dx, x_t.grad.numpy(), **TOLERANCE)
    for name, param_t in torch_params:
        np.testing.assert_allclose(layer.grads[name], param_t.grad.numpy(), **TOLERANCE, err_msg=name)
