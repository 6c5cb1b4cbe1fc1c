"""Weight averaging: an exponential moving average (EMA) of a model's weights during training.

After every optimizer step t (counting from 0) each array w of the model — parameters and
batch norm's running statistics alike (Layer.state) — moves its average a towards it:

    d_t = min(decay, (1 + t) / (10 + t))        the warm-up: early averages forget quickly
    a  ← a + (1 − d_t)·(w − a)                   = d_t·a + (1 − d_t)·w

The averages start as the initial weights. A decay of 0.999 averages over the last ≈ 1,000
steps; the warm-up keeps the random initial weights from lingering in short runs (d_0 = 0.1,
d_90 = 0.91, reaching 0.999 after ≈ 9,000 steps). The averaged weights usually classify
better than the last ones, at the cost of one more pass over the weights per step.

The Trainer keeps one WeightAverage when asked (Trainer(ema=decay)), stores it in every
checkpoint (so a resumed run continues it exactly), measures validation with it
(`applied`), and the finished model is given the averages (`copy_to`) before it is
evaluated and saved.
"""

from __future__ import annotations

import contextlib

import numpy as np


def ema_decay(decay: float, step: int) -> float:
    """The decay used at optimizer step `step` (0-based): min(decay, (1 + step)/(10 + step))."""
    return min(decay, (1 + step) / (10 + step))


class WeightAverage:
    """The exponential moving average of every array of a model (module doc).

    Args:
        model: a built layer or model; its state() names the arrays averaged.
        decay: in [0, 1); 0 keeps the last weights (the average is then a copy).

    Attributes:
        decay: as given.
        state: {name: average array}, in the model's dtypes and shapes.
    """

    def __init__(self, model, decay: float):
        if not 0 <= decay < 1:
            raise ValueError(f"an exponential moving average needs a decay in [0, 1), got {decay!r}")
        self.decay = float(decay)
        self.state = {name: np.array(value, copy=True) for name, value in model.state().items()}

    def update(self, model, step: int) -> None:
        """Move every average towards the model's array after optimizer step `step` (0-based)."""
        keep = ema_decay(self.decay, step)
        for name, value in model.state().items():
            average = self.state[name]
            step_towards = np.subtract(value, average)  # one temporary: (w − a), then (1 − d)·(w − a) in place
            step_towards *= average.dtype.type(1 - keep)
            average += step_towards

    def copy_to(self, model) -> None:
        """Put the averages into the model (Layer.load_state)."""
        model.load_state(self.state)

    @contextlib.contextmanager
    def applied(self, model):
        """The model holds the averages inside the block and its own weights again after it."""
        own = {name: value.copy() for name, value in model.state().items()}
        self.copy_to(model)
        try:
            yield model
        finally:
            model.load_state(own)

    def load(self, state: dict[str, np.ndarray]) -> None:
        """Take the averages from a checkpoint: the same names and shapes as now.

        Raises:
            ValueError: other names or shapes (a checkpoint of another model).
        """
        missing, unexpected = sorted(set(self.state) - set(state)), sorted(set(state) - set(self.state))
        if missing or unexpected:
            raise ValueError(f"the checkpoint's weight averages do not match the model: missing {missing}, "
                             f"unexpected {unexpected}")
        for name, average in self.state.items():
            value = np.asarray(state[name])
            if value.shape != average.shape:
                raise ValueError(f"the weight average of {name} has shape {value.shape}, the model's {average.shape}")
            average[...] = value
