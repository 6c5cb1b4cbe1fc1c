"""Learning-rate schedules: lr(step) for the steps 0, 1, ..., total_steps − 1 of a run.

Set the rate before each step: `optimizer.lr = schedule(step)`. Each schedule knows the
length of the run and is described by a JSON-friendly config, so that
make_schedule(**schedule.config()) rebuilds it (for checkpoints and the CLI). Past the last
step a schedule keeps its final rate.

    constant   lr
    step       lr · γ^⌊step / step_size⌋, step_size = ⌈T/3⌉ unless given  (torch StepLR)
    cosine     min_lr + (lr − min_lr)·(1 + cos(π·step/T))/2          (torch CosineAnnealingLR, T_max = T)
    onecycle   from lr/div_factor up to lr along a half cosine over the first pct_start of the
               run, then down to lr/(div_factor·final_div_factor)   (torch OneCycleLR's rate, two
               phases; unlike OneCycleLR it does not cycle momentum / Adam's β1, which stay fixed)
    warm-up    any of these after W steps of linear warm-up: lr_0·(step + 1)/W for step < W,
               then the schedule, shifted by W steps and W steps shorter
               (torch LinearLR(start_factor=1/W, total_iters=W − 1) then the schedule, as SequentialLR)
"""

from __future__ import annotations

import difflib
import math
import operator


class Schedule:
    """A learning rate for each step of a run of `total_steps` steps.

    Subclasses set `name` and define rate(step) for 0 ≤ step < total_steps and _options().

    Args:
        lr: the base (for onecycle: the largest) learning rate.
        total_steps: the number of optimizer steps in the run.
    """

    name = ""

    def __init__(self, lr: float, total_steps: int):
        if lr < 0 or total_steps < 1:
            raise ValueError(f"a {self.name} schedule needs lr ≥ 0 and total_steps ≥ 1, got lr={lr}, "
                             f"total_steps={total_steps}")
        self.lr, self.total_steps = lr, total_steps

    def __call__(self, step: int) -> float:
        step = operator.index(step)
        if step < 0:
            raise ValueError(f"steps count from 0, got {step}")
        return self.rate(min(step, self.total_steps - 1))

    def rate(self, step: int) -> float:
        raise NotImplementedError

    def _options(self) -> dict:
        return {}

    def config(self) -> dict:
        """JSON-friendly; make_schedule(**config) rebuilds the schedule."""
        return {"name": self.name, "lr": self.lr, "total_steps": self.total_steps, **self._options()}

    def __repr__(self):
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in self.config().items() if k != 'name')})"


class Constant(Schedule):
    """The same rate at every step."""

    name = "constant"

    def rate(self, step):
        return self.lr


class Step(Schedule):
    """Multiply the rate by gamma every step_size steps (by default a third of the run: two drops)."""

    name = "step"

    def __init__(self, lr: float, total_steps: int, step_size: int | None = None, gamma: float = 0.1):
        super().__init__(lr, total_steps)
        step_size = max(1, -(-total_steps // 3)) if step_size is None else step_size
        if step_size < 1:
            raise ValueError(f"a step schedule needs step_size ≥ 1, got {step_size}")
        self.step_size, self.gamma = step_size, gamma

    def _options(self):
        return {"step_size": self.step_size, "gamma": self.gamma}

    def rate(self, step):
        return self.lr * self.gamma ** (step // self.step_size)


class Cosine(Schedule):
    """Half a cosine from lr down towards min_lr over the run."""

    name = "cosine"

    def __init__(self, lr: float, total_steps: int, min_lr: float = 0.0):
        super().__init__(lr, total_steps)
        self.min_lr = min_lr

    def _options(self):
        return {"min_lr": self.min_lr}

    def rate(self, step):
        return self.min_lr + (self.lr - self.min_lr) * (1 + math.cos(math.pi * step / self.total_steps)) / 2


def _cosine_between(start: float, end: float, fraction: float) -> float:
    return end + (start - end) * (1 + math.cos(math.pi * fraction)) / 2


class OneCycle(Schedule):
    """Up from lr/div_factor to lr, then down to lr/(div_factor·final_div_factor), along half cosines.

    The rate follows torch.optim.lr_scheduler.OneCycleLR (anneal_strategy="cos",
    three_phase=False). OneCycleLR also cycles the momentum (β1 for Adam) inversely, from
    0.95 down to 0.85 and back, by default; this schedule does not: it sets the rate only,
    and momentum or β1 keep the optimizer's value for the whole run.

    Args:
        lr: the peak rate, reached at step pct_start·total_steps − 1.
        pct_start: the fraction of the run spent going up.
        div_factor: the first rate is lr/div_factor.
        final_div_factor: the last rate is the first rate/final_div_factor.
    """

    name = "onecycle"

    def __init__(self, lr: float, total_steps: int, pct_start: float = 0.3, div_factor: float = 25.0,
                 final_div_factor: float = 1e4):
        super().__init__(lr, total_steps)
        if not 0 < pct_start < 1 or pct_start * total_steps <= 1:
            raise ValueError(f"a onecycle schedule needs 0 < pct_start < 1 and more than one step going up "
                             f"(pct_start·total_steps > 1), got pct_start={pct_start}, total_steps={total_steps}")
        self.pct_start, self.div_factor, self.final_div_factor = pct_start, div_factor, final_div_factor

    def _options(self):
        return {"pct_start": self.pct_start, "div_factor": self.div_factor, "final_div_factor": self.final_div_factor}

    def rate(self, step):
        first = self.lr / self.div_factor
        peak = self.pct_start * self.total_steps - 1
        if step <= peak:
            return _cosine_between(first, self.lr, step / peak)
        last = self.total_steps - 1
        return _cosine_between(self.lr, first / self.final_div_factor, (step - peak) / (last - peak))


class Warmup(Schedule):
    """Linear warm-up over the first warmup_steps, then `schedule` (which starts at its step 0).

    Args:
        schedule: what follows the warm-up; the run lasts warmup_steps + schedule.total_steps.
        warmup_steps: W ≥ 1; the rate at step s < W is schedule(0)·(s + 1)/W.
    """

    def __init__(self, schedule: Schedule, warmup_steps: int):
        if warmup_steps < 1:
            raise ValueError(f"a warm-up needs warmup_steps ≥ 1, got {warmup_steps}")
        self.name = schedule.name
        super().__init__(schedule.lr, warmup_steps + schedule.total_steps)
        self.schedule, self.warmup_steps = schedule, warmup_steps

    def config(self):
        return {**self.schedule.config(), "total_steps": self.total_steps, "warmup_steps": self.warmup_steps}

    def rate(self, step):
        if step < self.warmup_steps:
            return self.schedule(0) * (step + 1) / self.warmup_steps
        return self.schedule(step - self.warmup_steps)


SCHEDULES = {cls.name: cls for cls in (Constant, Step, Cosine, OneCycle)}


def make_schedule(name: str, lr: float, total_steps: int, warmup_steps: int = 0, **options) -> Schedule:
    """The schedule called `name` ("constant", "step", "cosine", "onecycle"), for the CLI.

    Args:
        name: case-insensitive.
        lr: the base (onecycle: peak) learning rate.
        total_steps: steps in the whole run, warm-up included.
        warmup_steps: W > 0 puts a linear warm-up of W steps before the schedule.
        options: the schedule's own arguments, e.g. step_size=1000, gamma=0.5.

    Raises:
        ValueError: an unknown name (with the nearest one), or warmup_steps ≥ total_steps.
        TypeError: an option the schedule does not take.

    Example:
        >>> schedule = make_schedule("cosine", lr=0.01, total_steps=1000, warmup_steps=100)
        >>> schedule(0), schedule(99), schedule(100)
        (0.0001, 0.01, 0.01)
    """
    key = str(name).lower()
    if key not in SCHEDULES:
        guess = difflib.get_close_matches(key, SCHEDULES, n=1, cutoff=0.5)
        hint = f"did you mean '{guess[0]}'? " if guess else ""
        raise ValueError(f"unknown schedule '{name}'; {hint}The schedules are {', '.join(SCHEDULES)}.")
    if warmup_steps < 0 or 0 < total_steps <= warmup_steps:
        raise ValueError(f"warmup_steps must be ≥ 0 and fewer than total_steps, got warmup_steps={warmup_steps}, "
                         f"total_steps={total_steps}")
    schedule = SCHEDULES[key](lr, total_steps - warmup_steps, **options)
    return Warmup(schedule, warmup_steps) if warmup_steps else schedule
