"""One full training step, volnet and PyTorch: forward, loss, backward and an Adam update.

Both frameworks start from the same weights (PyTorch's net is a copy of volnet's, see
volnet.bench.mirror) and see the same batch, so they do the same arithmetic. As a side
check the two nets' class scores on that batch are compared in inference mode, where
dropout is off and batch norm uses the same running statistics.
"""

from __future__ import annotations

import numpy as np

from volnet.bench.cases import BATCH, Case, forward_flops
from volnet.bench.mirror import to_torch
from volnet.layers import SoftmaxCrossEntropy
from volnet.models import build_model, get_preset
from volnet.optim import make_optimizer

LEARNING_RATE = 1e-3

# (row name, architecture string or preset, input shape of one example)
NETS = [
    ("small Fashion-MNIST net", "conv3-32 relu pool conv3-64 relu pool fc128 relu fc10", (1, 28, 28)),
    ("preset fashion", "fashion", get_preset("fashion").input_shape),
    ("preset cifar10", "cifar10", get_preset("cifar10").input_shape),
]


def batch(input_shape, classes=10, batch_size=BATCH, seed=0):
    """A random float32 batch (N, D, H, W) and integer labels (N,)."""
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((batch_size, *input_shape), dtype=np.float32),
            rng.integers(0, classes, batch_size))


def volnet_step(spec, input_shape, x, labels):
    """A callable doing one volnet training step on (x, labels), and the model it trains."""
    model = build_model(spec, input_shape, seed=0)
    optimizer = make_optimizer("adam", model.parameters(), lr=LEARNING_RATE)
    loss = SoftmaxCrossEntropy()

    def step():
        scores = model.forward(x)
        _, dscores = loss(scores, labels)
        optimizer.zero_grad()
        model.backward(dscores, input_gradient=False)  # as PyTorch: no gradient for the images
        optimizer.step()

    return step, model


def torch_step(model, x, labels):
    """A callable doing the same training step in PyTorch, on a copy of the volnet model."""
    import torch

    net = to_torch(model).train()
    optimizer = torch.optim.Adam(net.parameters(), lr=LEARNING_RATE)
    x_torch, labels_torch = torch.from_numpy(x), torch.from_numpy(labels)

    def step():
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(net(x_torch), labels_torch).backward()
        optimizer.step()

    return step, net


def _score_difference(model, net, x):
    """max |volnet scores − torch scores| / max |torch scores|, both in inference mode."""
    import torch

    model.eval()
    net.eval()
    with torch.no_grad():
        theirs = net(torch.from_numpy(x)).numpy()
    ours = model.forward(x)
    model.train()
    net.train()
    return float(np.max(np.abs(ours - theirs)) / max(np.max(np.abs(theirs)), 1e-30))


def step_cases(with_torch: bool) -> list[Case]:
    """The three training-step rows of the benchmark."""
    cases = []
    for name, spec, input_shape in NETS:
        x, labels = batch(input_shape)
        step, model = volnet_step(spec, input_shape, x, labels)
        torch_callable = agreement = None
        if with_torch:
            torch_callable, net = torch_step(model, x, labels)
            agreement = (lambda model=model, net=net, x=x: _score_difference(model, net, x))
        flops = 3 * BATCH * forward_flops(model, input_shape)
        cases.append(Case(f"train step {name}", "step", step, torch_callable, flops, agreement,
                          extra={"spec": spec, "input_shape": list(input_shape)}))
    return cases
