"""Optimizers: turn each parameter's gradient into a step, following PyTorch's conventions.

Every optimizer shares one loop (Optimizer.step): for each Parameter,

    g = grad · c                     c = min(1, clip_norm / (‖all grads‖₂ + 1e-6)) with clip_norm, else 1
    g = g + weight_decay · w         L2 regularisation (AdamW instead decays w directly)
    update(w, g, state)              the rule of the optimizer, in place, t = steps taken so far + 1

and each optimizer writes only its update rule, with per-parameter state arrays ("slots"):

    SGD       v = μ·v + g;  w −= lr·(g + μ·v) with nesterov, else w −= lr·v    (v = g when μ = 0)
    Adam      m = β₁·m + (1 − β₁)·g;  s = β₂·s + (1 − β₂)·g²
              w −= lr/(1 − β₁ᵗ) · m / (√s/√(1 − β₂ᵗ) + ε)                    (ε outside the root)
    AdamW     w −= lr·λ·w, then Adam without L2
    RMSProp   s = ρ·s + (1 − ρ)·g²;  w −= lr·g/(√s + ε)
    Adagrad   s = s + g²;  w −= lr·g/(√s + ε)

These are PyTorch's formulas and defaults (torch.optim.SGD, Adam, AdamW, RMSprop, Adagrad;
RMSprop's alpha is called decay here), and tests/optim checks that the parameters agree to
1e-10 in float64.
Gradients are read from Parameter.grad and left unchanged (clipping scales a copy).

State for checkpoints: state_dict() gives arrays (slot.parameter name -> array) and JSON
scalars (the optimizer's name, hyperparameters and step count); load_state_dict takes them
back. No pickle is involved.
"""

from __future__ import annotations

import difflib
import math

import numpy as np

from volnet.layers import Layer, Parameter
from volnet.ops import compiled
from volnet.ops.parallel import map_split

# a parameter of at least this many numbers is updated in slices on all cores (the compiled pass)
SPLIT_NUMBERS = 1 << 16


def update_kernels_for(*arrays):
    """volnet.optim.update_kernels when numba loads and the arrays are all C-contiguous (so that
    their flat views are the arrays themselves), of one shape and one dtype, float32 or float64; else None."""
    if len({(a.shape, a.dtype) for a in arrays}) != 1 or arrays[0].dtype not in compiled.DTYPES:
        return None
    if not all(a.flags.c_contiguous for a in arrays):
        return None
    return compiled.load("volnet.optim.update_kernels", "updates the parameters with NumPy's passes instead")


class Optimizer:
    """The shared loop: gradient clipping, L2 weight decay, the step count and the state.

    Subclasses set `name` and `slots` (the names of their per-parameter arrays, created as
    zeros) and define update(weight, grad, state, t).

    Args:
        parameters: name -> Parameter, as given by model.parameters().
        lr: the learning rate; may be set between steps (schedules do).
        weight_decay: λ, adds λ·w to each gradient (L2 regularisation, loss + λ/2·‖w‖²).
        clip_norm: if given, scale all gradients together so that their global L2 norm is at
            most clip_norm (as torch.nn.utils.clip_grad_norm_).

    Attributes:
        steps: steps taken so far.
        grad_norm: the global gradient norm before clipping at the last step (None without clip_norm).
    """

    name = ""
    slots: tuple[str, ...] = ()
    decoupled = False  # True: the update rule applies weight decay itself (AdamW)

    def __init__(self, parameters: dict[str, Parameter], lr: float, weight_decay: float = 0.0,
                 clip_norm: float | None = None):
        if isinstance(parameters, Layer):
            raise TypeError(f"{type(self).__name__} takes the model's parameters, not the model: "
                            f"{type(self).__name__}(model.parameters(), ...)")
        self.parameters = dict(parameters)
        wrong = [name for name, p in self.parameters.items() if not isinstance(p, Parameter)]
        if wrong:
            raise TypeError(f"{type(self).__name__} takes name -> trainable Parameter (model.parameters()); "
                            f"{wrong[:3]} are not")
        if lr < 0 or weight_decay < 0 or (clip_norm is not None and clip_norm <= 0):
            raise ValueError(f"{type(self).__name__} needs lr ≥ 0, weight_decay ≥ 0 and clip_norm > 0; "
                             f"got lr={lr}, weight_decay={weight_decay}, clip_norm={clip_norm}")
        self.lr, self.weight_decay, self.clip_norm = lr, weight_decay, clip_norm
        self.steps = 0
        self.grad_norm = None
        self.state = {name: {slot: np.zeros_like(p.data) for slot in self.slots}
                      for name, p in self.parameters.items()}

    def config(self) -> dict:
        """The hyperparameters, JSON-friendly: make_optimizer(name, parameters, **config()) rebuilds it."""
        return {"lr": self.lr, "weight_decay": self.weight_decay, "clip_norm": self.clip_norm, **self._rule_config()}

    def _rule_config(self) -> dict:
        return {}

    def step(self):
        """Update every parameter from its current .grad."""
        scale = 1.0
        if self.clip_norm is not None:
            self.grad_norm = math.sqrt(sum(float(np.sum(np.square(p.grad, dtype=np.float64)))
                                           for p in self.parameters.values()))
            scale = min(1.0, self.clip_norm / (self.grad_norm + 1e-6))
        self.steps += 1
        for name, p in self.parameters.items():
            grad = p.grad * p.grad.dtype.type(scale) if scale != 1.0 else p.grad
            if self.weight_decay and not self.decoupled:
                grad = grad + self.weight_decay * p.data
            self.update(p.data, grad, self.state[name], self.steps)

    def update(self, weight: np.ndarray, grad: np.ndarray, state: dict[str, np.ndarray], t: int):
        """Change `weight` in place given `grad` (clipped, with L2 added) at step t (from 1)."""
        raise NotImplementedError

    def zero_grad(self):
        """Set every parameter's gradient to zero (before the next backward pass accumulates)."""
        for p in self.parameters.values():
            p.grad[...] = 0

    def state_dict(self) -> tuple[dict[str, np.ndarray], dict]:
        """(arrays, scalars): arrays "<slot>.<parameter name>" (copies) and JSON scalars
        {"name", "steps", "config"}; for checkpoints (see volnet.npz.write_npz_atomic)."""
        arrays = {f"{slot}.{name}": values[slot].copy() for name, values in self.state.items() for slot in self.slots}
        return arrays, {"name": self.name, "steps": self.steps, "config": self.config()}

    def load_state_dict(self, arrays: dict[str, np.ndarray], scalars: dict):
        """Take back what state_dict gave, so that the next steps equal an uninterrupted run's.

        Raises:
            ValueError: the state is another optimizer's, or its arrays do not match the parameters.
        """
        if scalars.get("name") != self.name:
            raise ValueError(f"this optimizer state is for {scalars.get('name')!r}, not {self.name!r}; "
                             f"make_optimizer({scalars.get('name')!r}, ...) to resume it")
        expected = {f"{slot}.{name}": values[slot] for name, values in self.state.items() for slot in self.slots}
        missing, unexpected = sorted(set(expected) - set(arrays)), sorted(set(arrays) - set(expected))
        if missing or unexpected:
            raise ValueError(f"optimizer state does not match the parameters: missing {missing[:5]}, "
                             f"unexpected {unexpected[:5]}")
        for key, target in expected.items():
            if np.shape(arrays[key]) != target.shape:
                raise ValueError(f"optimizer state {key!r} has shape {np.shape(arrays[key])}, "
                                 f"the parameter {target.shape}")
        for key, target in expected.items():
            target[...] = arrays[key]
        self.steps = int(scalars["steps"])
        # hyperparameters come back too, as in PyTorch (a schedule may then set lr again)
        for key, value in scalars.get("config", {}).items():
            if key in self.config():
                setattr(self, key, tuple(value) if key == "betas" else value)

    def __repr__(self):
        settings = ", ".join(f"{k}={v!r}" for k, v in self.config().items() if v not in (None, 0.0, False))
        return f"{type(self).__name__}({settings})"


class SGD(Optimizer):
    """Stochastic gradient descent, optionally with (Nesterov) momentum μ (module doc).

    Args: momentum μ (0: plain SGD); nesterov: look ahead along the velocity; the rest as Optimizer.
    """

    name, slots = "sgd", ("velocity",)

    def __init__(self, parameters, lr: float = 1e-3, momentum: float = 0.0, nesterov: bool = False,
                 weight_decay: float = 0.0, clip_norm: float | None = None):
        if nesterov and momentum <= 0:
            raise ValueError(f"SGD: nesterov=True needs momentum > 0, got momentum={momentum}")
        self.momentum, self.nesterov = momentum, nesterov
        super().__init__(parameters, lr, weight_decay, clip_norm)

    def _rule_config(self):
        return {"momentum": self.momentum, "nesterov": self.nesterov}

    def update(self, weight, grad, state, t):
        velocity = state["velocity"]
        velocity *= self.momentum
        velocity += grad
        weight -= self.lr * (grad + self.momentum * velocity if self.nesterov else velocity)


class Adam(Optimizer):
    """Adam: momentum on the gradient (m) and per-number step sizes from its running square (s).

    Args: betas (β₁, β₂); eps ε, added outside the square root (PyTorch's placement); the rest
    as Optimizer, weight_decay being L2 added to the gradient.
    """

    name, slots = "adam", ("m", "s")

    def __init__(self, parameters, lr: float = 1e-3, betas=(0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0, clip_norm: float | None = None):
        self.betas, self.eps = tuple(betas), eps
        super().__init__(parameters, lr, weight_decay, clip_norm)

    def _rule_config(self):
        return {"betas": list(self.betas), "eps": self.eps}

    def update(self, weight, grad, state, t):
        """One compiled pass over the parameter where numba loads (update_kernels_for; the same
        bits as the NumPy passes below, which run otherwise)."""
        beta1, beta2 = self.betas
        m, s = state["m"], state["s"]
        step_size, root_correction = self.lr / (1 - beta1 ** t), math.sqrt(1 - beta2 ** t)
        kernels = update_kernels_for(weight, grad, m, s)
        if kernels:
            scalars = [weight.dtype.type(value) for value in (beta1, 1 - beta1, beta2, 1 - beta2, step_size,
                                                              root_correction, self.eps)]
            flat = [array.reshape(-1) for array in (weight, grad, m, s)]
            parts = 1 if weight.size < SPLIT_NUMBERS else None
            map_split(lambda part: kernels.adam(*(array[part] for array in flat), *scalars), weight.size, parts)
            return
        m *= beta1
        m += (1 - beta1) * grad
        s *= beta2
        s += (1 - beta2) * grad * grad
        denominator = np.sqrt(s) / root_correction + self.eps
        weight -= step_size * (m / denominator)


class AdamW(Adam):
    """Adam with decoupled weight decay: w −= lr·λ·w before the Adam step (not L2 in the gradient).

    Args: as Adam; weight_decay λ defaults to 0.01 (PyTorch's default).
    """

    name, decoupled = "adamw", True

    def __init__(self, parameters, lr: float = 1e-3, betas=(0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.01, clip_norm: float | None = None):
        super().__init__(parameters, lr, betas, eps, weight_decay, clip_norm)

    def update(self, weight, grad, state, t):
        weight *= 1 - self.lr * self.weight_decay
        super().update(weight, grad, state, t)


class RMSProp(Optimizer):
    """RMSProp: divide each gradient number by the root of its running mean square.

    Args: decay ρ (PyTorch's alpha, CS231n's decay_rate); eps ε outside the root; the rest as Optimizer.
    """

    name, slots = "rmsprop", ("s",)

    def __init__(self, parameters, lr: float = 0.01, decay: float = 0.99, eps: float = 1e-8,
                 weight_decay: float = 0.0, clip_norm: float | None = None):
        self.decay, self.eps = decay, eps
        super().__init__(parameters, lr, weight_decay, clip_norm)

    def _rule_config(self):
        return {"decay": self.decay, "eps": self.eps}

    def update(self, weight, grad, state, t):
        s = state["s"]
        s *= self.decay
        s += (1 - self.decay) * grad * grad
        weight -= self.lr * grad / (np.sqrt(s) + self.eps)


class Adagrad(Optimizer):
    """Adagrad: divide each gradient number by the root of the sum of all its squares so far.

    Args: eps ε outside the root (PyTorch's default 1e-10); the rest as Optimizer.
    """

    name, slots = "adagrad", ("s",)

    def __init__(self, parameters, lr: float = 0.01, eps: float = 1e-10, weight_decay: float = 0.0,
                 clip_norm: float | None = None):
        self.eps = eps
        super().__init__(parameters, lr, weight_decay, clip_norm)

    def _rule_config(self):
        return {"eps": self.eps}

    def update(self, weight, grad, state, t):
        s = state["s"]
        s += grad * grad
        weight -= self.lr * grad / (np.sqrt(s) + self.eps)


OPTIMIZERS = {cls.name: cls for cls in (SGD, Adam, AdamW, RMSProp, Adagrad)}


def make_optimizer(name: str, parameters: dict[str, Parameter], **options) -> Optimizer:
    """The optimizer called `name` ("sgd", "adam", "adamw", "rmsprop", "adagrad"), for the CLI.

    Args:
        name: case-insensitive.
        parameters: model.parameters().
        options: the optimizer's keyword arguments, e.g. lr=0.01, momentum=0.9.

    Raises:
        ValueError: an unknown name (with the nearest one); TypeError: an option it does not take.
    """
    key = str(name).lower()
    if key not in OPTIMIZERS:
        guess = difflib.get_close_matches(key, OPTIMIZERS, n=1, cutoff=0.5)
        hint = f"did you mean '{guess[0]}'? " if guess else ""
        raise ValueError(f"unknown optimizer '{name}'; {hint}The optimizers are {', '.join(OPTIMIZERS)}.")
    return OPTIMIZERS[key](parameters, **options)
