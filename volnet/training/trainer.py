"""The training loop: mini-batch gradient descent with validation, checkpoints and early stopping.

One step, for a batch x (B, C, H, W) with labels y (B,):

    lr ← schedule(step)                 the learning rate for this step
    scores = model.forward(x)           (B, classes), in training mode
    loss, dscores = loss_fn(scores, y)
    model.backward(dscores)             fills every Parameter's .grad
    optimizer.step()                    updates every Parameter's .data
    average.update(model, step)         with an EMA: the weight averages follow (volnet.training.averaging)

An epoch runs one step per batch of a fresh random order of the training set (augmented
if asked), then measures the validation set in inference mode. Every epoch appends a
record to the history:

    {"epoch", "train_loss", "train_accuracy", "val_loss", "val_accuracy", "lr",
     "seconds", "examples_per_second"}

train_* are means over the epoch's batches (the weights changing as they go); val_* are
measured after the epoch (None without a validation set; with an EMA, of the averaged
weights); lr is the last step's.

Reproducibility: given the same model (built with the same seed), settings and seed, a run
is the same to the last bit. All randomness comes from one generator for the order and
the augmentation (seeded by `seed`) and the generators inside the model (dropout). A
checkpoint holds all of their states, so a run resumed from one continues exactly as if it
had never stopped.

Distributed (data-parallel) training: given a volnet.distributed.World of R ranks, every rank
runs this same loop on its share of each global batch of B examples (the order and the
augmentation drawn for the whole batch, identically on every rank). Its gradient is that of
the global mean loss, (B_r/B)·∇(its own mean loss); the world sums them over the ranks in
one Allreduce, so every rank takes the same optimizer step as one process would on the whole
batch. Batch norm and dropout see the whole batch through the world (World.attach); the
evaluation is shared out and gathered. Only rank 0 logs, shows progress and writes
checkpoints; callbacks run on every rank with the same (global) step dicts, and a stop
requested on any rank stops all after that step. With the default World (one process)
every one of these is the identity.
"""

from __future__ import annotations

import contextlib
import math
import os
import sys
import time
from typing import Callable

import numpy as np
from tqdm import tqdm

from volnet.data import Dataset, iterate_batches
from volnet.distributed.world import World
from volnet.layers import SoftmaxCrossEntropy
from volnet.files import remove_stale_temporaries
from volnet.run_folder import BEST_CHECKPOINT, LAST_CHECKPOINT
from volnet.training.averaging import WeightAverage
from volnet.training.checkpoint import (Checkpoint, damaged_checkpoint, load_checkpoint, model_generators,
                                       save_checkpoint)
from volnet.training.divergence import (DIVERGENCE_FACTOR, DivergenceError, NonFiniteError, all_finite,
                                        largest_parameter, learning_rate_advice, locate_non_finite,
                                        loss_diverged)
from volnet.training.metrics import evaluate

MONITORS = ("val_loss", "val_accuracy")  # lower, higher is better


class Trainer:
    """Trains a model; holds everything that changes as it does (step, epoch, history, best).

    Args:
        model: a built model giving (N, C) class scores (e.g. from volnet.models.build_model).
        optimizer: from volnet.optim.make_optimizer, over model.parameters().
        loss: (scores, labels) -> (loss, dscores); default SoftmaxCrossEntropy().
        schedule: lr(step) -> learning rate, from volnet.optim.make_schedule; None keeps the
            optimizer's learning rate.
        batch_size: B, examples per step.
        augment: (images uint8 (B, C, H, W), rng) -> images, e.g. volnet.data.Augmentation.
        normalize: the volnet.data.Normalization applied to every batch (and saved with the model).
        seed: seeds the generator of the order and the augmentation.
        monitor: "val_loss" (lower is better) or "val_accuracy" (higher is better): what
            picks the best epoch and drives early stopping; without a validation set, the
            training counterpart is used.
        patience: stop after this many epochs without improvement of the monitored value;
            None never stops early. The model keeps the last epoch's weights; best.npz holds
            the best epoch's.
        out_dir: a folder for checkpoint.npz (every epoch) and best.npz (the best epoch);
            None writes no checkpoints.
        settings: a JSON-friendly dict stored in every checkpoint (e.g. how to rebuild the run).
        progress: show a progress bar (examples/s, ETA); None shows one when stderr is a terminal.
        log: called with one line per epoch (and notices); default print.
        callbacks: objects told about the run as it goes, in the training thread: each may
            define `on_step(trainer, step)` (after every optimizer step, with the dict
            {"epoch", "step", "loss", "accuracy", "lr", "examples", "seconds"} of that batch;
            epoch counts from 1, step is the number of steps taken so far) and
            `on_epoch(trainer, record)` (after every epoch, with its history record). A
            callback may change the optimizer's settings (they apply from the next step) or
            call `trainer.request_stop()`. In a distributed run they run on every rank (one
            that writes or serves should do so where `trainer.world.is_root`).
        world: the volnet.distributed.World the run is spread over (module doc); None: this process alone.
        ema: the decay of an exponential moving average of the weights (volnet.training.averaging),
            in [0, 1); None or 0: no average. The average is `trainer.average`, kept in every
            checkpoint and used for validation; the model itself holds the last weights until
            `trainer.average.copy_to(model)`.
    """

    def __init__(self, model, optimizer, loss=None, schedule: Callable[[int], float] | None = None,
                 batch_size: int = 64, augment=None, normalize=None, seed: int = 0, monitor: str = "val_loss",
                 patience: int | None = None, out_dir=None, settings: dict | None = None,
                 progress: bool | None = None, log: Callable[[str], None] = print, callbacks=(), world=None,
                 ema: float | None = None):
        if monitor not in MONITORS:
            raise ValueError(f"monitor must be one of {', '.join(MONITORS)}, got {monitor!r}")
        if patience is not None and patience < 1:
            raise ValueError(f"patience must be a whole number of epochs ≥ 1 (or None to never stop early), "
                             f"got {patience!r}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be ≥ 1, got {batch_size}")
        self.model, self.optimizer = model, optimizer
        self.loss = loss if loss is not None else SoftmaxCrossEntropy()
        self.schedule, self.batch_size, self.augment, self.normalize = schedule, batch_size, augment, normalize
        self.monitor, self.patience = monitor, patience
        self.out_dir, self.settings = out_dir, dict(settings or {})
        self.world = world if world is not None else World()
        self.world.attach(model)
        self.progress = self.world.is_root and (sys.stderr.isatty() if progress is None else progress)
        self.log = log if self.world.is_root else _silent
        self.rng = np.random.default_rng(seed)
        self.generators = {"shuffle": self.rng, **model_generators(model)}
        self.epoch = 0  # epochs completed
        self.step = 0  # optimizer steps taken: the schedule's position
        self.first_loss: float | None = None  # the yardstick of divergence (see train_step)
        self.history: list[dict] = []
        self.best = {"epoch": None, "value": None, "bad_epochs": 0}
        self.callbacks = list(callbacks)
        self.stop_requested = False
        self.average = WeightAverage(model, ema) if ema else None

    def request_stop(self) -> None:
        """Stop the run after the step in progress: fit returns without finishing the epoch
        (no checkpoint is written for the partial epoch). Safe to call from another thread."""
        self.stop_requested = True

    def _tell(self, event: str, value) -> None:
        for callback in self.callbacks:
            method = getattr(callback, event, None)
            if method is not None:
                method(self, value)

    # -- one step, one epoch -----------------------------------------------------------------
    def train_step(self, x: np.ndarray, labels: np.ndarray, examples: int | None = None) -> tuple[float, int]:
        """One gradient step on a batch; returns (mean loss, correctly classified count).

        In a distributed run x (B_r, ...) and labels (B_r,) are this rank's share of a global
        batch of `examples` examples (default: len(labels)), and the loss and the count
        returned are the global batch's.

        The step runs with NumPy's floating-point warnings silenced: overflow is caught by
        value, after the fact, with a message naming the step and the layer instead of a
        RuntimeWarning. The first step's loss is kept (`first_loss`) as the yardstick of
        divergence (volnet.training.divergence.loss_diverged).

        Raises:
            DivergenceError: the loss is finite but has diverged; the step is not taken, and
                the message names the epoch, the step and the layer with the largest weights.
            NonFiniteError: the input, the loss, a gradient or (after the update) a parameter
                holds NaN or inf; the message names the epoch, the step and what first went
                non-finite.
        """
        if self.schedule is not None:
            self.optimizer.lr = self.schedule(self.step)
        states = {name: generator.bit_generator.state for name, generator in self.generators.items()}
        weight = len(labels) / (len(labels) if examples is None else examples)  # 1.0 in one process
        with np.errstate(all="ignore"):
            scores = self.model.forward(x)
            loss, dscores = self.loss(scores, labels)
            right = np.count_nonzero(scores.argmax(axis=1) == labels)
            # every rank runs the backward (batch norm's sums take all of them), whatever its loss
            self.optimizer.zero_grad()
            self.model.backward(dscores * dscores.dtype.type(weight), input_gradient=False)
            loss, right = self.world.sum_gradients(self.optimizer.parameters.values(), [loss * weight, right])
            loss, right = float(loss), int(right)
            if loss_diverged(loss, self.first_loss):
                where = largest_parameter(self.model)
                raise DivergenceError(
                    f"training diverged at epoch {self.epoch + 1}, step {self.step}: the loss {loss:.3g} is more than "
                    f"{DIVERGENCE_FACTOR:g} times the first step's {self.first_loss:.3g}; the largest weights are in "
                    f"{where}. {learning_rate_advice(self.optimizer.lr)}", self.epoch + 1, self.step, where)
            finite = math.isfinite(loss) and all_finite(self.model.grads.values())
            if finite:
                self.optimizer.step()
                finite = all_finite(self.model.params.values())
            if finite and self.average is not None:
                self.average.update(self.model, self.step)
        if not finite:
            for name, generator in self.generators.items():
                generator.bit_generator.state = states[name]
            World().attach(self.model)  # each rank looks at its own share alone: no collectives
            try:
                where = locate_non_finite(self.model, x, labels, self.loss)
            finally:
                self.world.attach(self.model)
            raise NonFiniteError(
                f"training went non-finite at epoch {self.epoch + 1}, step {self.step} (loss {loss}): first in "
                f"{where}. {learning_rate_advice(self.optimizer.lr)}", self.epoch + 1, self.step, where)
        if self.first_loss is None:
            self.first_loss = loss
        self.step += 1
        return loss, right

    def train_epoch(self, train_set: Dataset, epochs: int) -> tuple[float, float]:
        """One pass over the training set in a fresh random order; returns (mean loss, accuracy)."""
        self.model.train()
        total_loss, correct = [], 0
        batches = iterate_batches(train_set, self.batch_size, shuffle=True, rng=self.rng, augment=self.augment,
                                  normalize=self.normalize, share=self.world.share)
        with tqdm(total=len(train_set), desc=f"epoch {self.epoch + 1}/{epochs}", unit="ex", leave=False,
                  disable=not self.progress, dynamic_ncols=True) as bar:
            for index, (x, labels) in enumerate(batches):
                started = time.perf_counter()
                examples = min(self.batch_size, len(train_set) - index * self.batch_size)  # of the global batch
                loss, right = self.train_step(x, labels, examples)
                total_loss.append(loss * examples)
                correct += right
                bar.update(examples)
                bar.set_postfix(loss=f"{loss:.3f}", refresh=False)
                self._tell("on_step", {"epoch": self.epoch + 1, "step": self.step, "loss": loss,
                                       "accuracy": right / examples, "lr": float(self.optimizer.lr),
                                       "examples": examples, "seconds": time.perf_counter() - started})
                if self.world.any(self.stop_requested):
                    self.stop_requested = True
                    break
        return math.fsum(total_loss) / len(train_set), correct / len(train_set)

    # -- the run -------------------------------------------------------------------------------
    def fit(self, train_set: Dataset, val_set: Dataset | None = None, epochs: int = 10) -> list[dict]:
        """Train until `epochs` epochs are completed (counting those before a resume) or
        early stopping ends the run.

        Returns:
            the history, one dict per epoch (module doc).

        Raises:
            DivergenceError: the loss diverged, or (NonFiniteError) a step went non-finite;
                see train_step.
        """
        key = self.monitor if val_set is not None else self.monitor.replace("val_", "train_")
        self.world.check_batches(len(train_set), self.batch_size)
        while self.epoch < epochs and not self.stopped_early and not self.stop_requested:
            started = time.perf_counter()
            train_loss, train_accuracy = self.train_epoch(train_set, epochs)
            train_seconds = time.perf_counter() - started
            if self.stop_requested:
                break
            measured = None if val_set is None else self.measure(val_set)
            self.epoch += 1
            record = {
                "epoch": self.epoch, "train_loss": train_loss, "train_accuracy": train_accuracy,
                "val_loss": None if measured is None else measured.loss,
                "val_accuracy": None if measured is None else measured.accuracy,
                "lr": float(self.optimizer.lr), "seconds": time.perf_counter() - started,
                "examples_per_second": len(train_set) / train_seconds,
            }
            self.history.append(record)
            improved = self._update_best(record[key])
            self.log(format_epoch(record, epochs))
            self._tell("on_epoch", record)
            if self.out_dir is not None and self.world.is_root:
                checkpoint = self.checkpoint()
                save_checkpoint(os.path.join(self.out_dir, LAST_CHECKPOINT), checkpoint)
                if improved:
                    save_checkpoint(os.path.join(self.out_dir, BEST_CHECKPOINT), checkpoint)
            if self.stopped_early:
                self.log(f"early stopping: {key} has not improved for {self.patience} epochs "
                         f"(best {self.best['value']:.4g} at epoch {self.best['epoch']})")
        return self.history

    def measure(self, dataset: Dataset, **options):
        """evaluate(model, dataset) with the run's normalisation and loss, of the averaged weights when
        there is an EMA; options go to volnet.training.metrics.evaluate (e.g. tta)."""
        with self.average.applied(self.model) if self.average is not None else contextlib.nullcontext():
            return evaluate(self.model, dataset, normalize=self.normalize, loss=self.loss, world=self.world,
                            **options)

    def _update_best(self, value: float) -> bool:
        """Record the epoch just completed as the best if it improves the monitored value."""
        best = self.best["value"]
        if best is None or (value < best if self.monitor == "val_loss" else value > best):
            self.best = {"epoch": self.epoch, "value": value, "bad_epochs": 0}
            return True
        self.best["bad_epochs"] += 1
        return False

    @property
    def stopped_early(self) -> bool:
        return self.patience is not None and self.best["bad_epochs"] >= self.patience

    # -- checkpoints ---------------------------------------------------------------------------
    def checkpoint(self) -> Checkpoint:
        """The state of the run now (copies of every array)."""
        arrays, scalars = self.optimizer.state_dict()
        return Checkpoint(
            model_state={name: value.copy() for name, value in self.model.state().items()},
            optimizer_arrays={name: np.array(value) for name, value in arrays.items()},
            optimizer_scalars=dict(scalars), epoch=self.epoch, step=self.step,
            history=[dict(record) for record in self.history],
            generators={name: generator.bit_generator.state for name, generator in self.generators.items()},
            best=dict(self.best), settings=self.settings, first_loss=self.first_loss,
            averages=None if self.average is None else {name: value.copy()
                                                        for name, value in self.average.state.items()})

    def restore(self, checkpoint: Checkpoint) -> None:
        """Put the model, the optimizer, the generators and the progress back as a checkpoint holds them.

        Raises:
            ValueError: the checkpoint was made for a different model (other layers,
                shapes or random generators).
        """
        if set(checkpoint.generators) != set(self.generators):
            raise ValueError(f"the checkpoint holds random generators {sorted(checkpoint.generators)} but this run "
                             f"has {sorted(self.generators)}: it was made for a different model")
        if (checkpoint.averages is None) != (self.average is None):
            kept, this = ("keeps", "has none") if checkpoint.averages is not None else ("has no", "keeps one")
            raise ValueError(f"the checkpoint {kept} weight averages (an EMA) but this run {this}: it was made with "
                             f"other settings")
        self.model.load_state(checkpoint.model_state)
        if self.average is not None:
            self.average.load(checkpoint.averages)
        self.optimizer.load_state_dict(checkpoint.optimizer_arrays, checkpoint.optimizer_scalars)
        for name, generator in self.generators.items():
            try:
                generator.bit_generator.state = checkpoint.generators[name]
            except (TypeError, ValueError, KeyError) as error:
                raise ValueError(f"the state of the random generator {name!r} is not valid ({error})") from None
        self.epoch, self.step, self.first_loss = checkpoint.epoch, checkpoint.step, checkpoint.first_loss
        self.history = [dict(record) for record in checkpoint.history]
        self.best = dict(checkpoint.best)

    def resume(self, path) -> None:
        """Restore from a checkpoint file (see restore and volnet.training.checkpoint.load_checkpoint).

        Raises:
            ValueError: the file is damaged, from another version or made for another model; the
                message names it.
        """
        checkpoint = load_checkpoint(path)
        remove_stale_temporaries(path)
        try:
            self.restore(checkpoint)
        except (ValueError, TypeError, KeyError) as error:
            raise damaged_checkpoint(path, str(error)) from None


def _silent(line: str) -> None:
    """The log of ranks other than 0: they report nothing."""


def format_epoch(record: dict, epochs: int) -> str:
    """One line for an epoch, e.g.
    "epoch  3/8  train loss 0.412 acc 85.1%  val loss 0.389 acc 86.0%  lr 1.0e-03  12.3 s  812 ex/s"."""
    width = len(str(epochs))
    line = (f"epoch {record['epoch']:>{width}}/{epochs}  "
            f"train loss {record['train_loss']:.3f} acc {record['train_accuracy']:.1%}  ")
    if record["val_loss"] is not None:
        line += f"val loss {record['val_loss']:.3f} acc {record['val_accuracy']:.1%}  "
    return line + f"lr {record['lr']:.1e}  {record['seconds']:.1f} s  {record['examples_per_second']:.0f} ex/s"
