"""Checkpoints: everything a training run needs to continue exactly where it stopped.

A checkpoint is one .npz file of arrays plus JSON metadata, written atomically and with a
checksum by volnet.npz's write_npz_atomic (temporary file, fsync, rename), so a run
killed mid-write leaves the previous checkpoint intact and a damaged file is reported as
such rather than half-read. It holds

    arrays    model/<name>       every parameter and running statistic (Layer.state())
              optimizer/<name>   the optimizer's arrays (momentum, Adam's moments, ...)
              average/<name>     the weight averages of a run with an EMA (volnet.training.averaging)
    metadata  epoch, step        epochs completed and optimizer steps taken (the schedule's position)
              history            one dict per completed epoch
              generators         bit_generator.state of every random generator: the shuffling
                                 one ("shuffle") and each one inside the model (dropout)
              optimizer          the optimizer's scalars
              best               the best monitored value so far, its epoch, epochs since then
              settings           what the caller chose to store, e.g. the training configuration
              first_loss         the loss of the run's first step, against which divergence is
                                 judged (absent from older checkpoints: then the first resumed step's)
              averaged           whether the run keeps weight averages (absent from older checkpoints: no)
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from volnet.npz import read_npz_checked, write_npz_atomic

KIND = "checkpoint"
VERSION = 1


@dataclass
class Checkpoint:
    """The state of a training run after a whole number of epochs (see the module doc)."""

    model_state: dict[str, np.ndarray]
    optimizer_arrays: dict[str, np.ndarray]
    optimizer_scalars: dict
    epoch: int
    step: int
    history: list[dict]
    generators: dict[str, dict]
    best: dict
    settings: dict = field(default_factory=dict)
    first_loss: float | None = None
    averages: dict[str, np.ndarray] | None = None


def model_generators(layer) -> dict[str, np.random.Generator]:
    """Every np.random.Generator held by a layer or the layers inside it, by dotted name
    (e.g. {"7.rng": ...} for a Dropout at position 7 of a Sequential): Layer.generators."""
    return layer.generators()


def save_checkpoint(path, checkpoint: Checkpoint) -> None:
    """Write a checkpoint atomically to path (an .npz file)."""
    arrays = {f"model/{name}": value for name, value in checkpoint.model_state.items()}
    arrays.update({f"optimizer/{name}": value for name, value in checkpoint.optimizer_arrays.items()})
    arrays.update({f"average/{name}": value for name, value in (checkpoint.averages or {}).items()})
    meta = {
        "version": VERSION, "epoch": checkpoint.epoch, "step": checkpoint.step,
        "history": checkpoint.history, "generators": checkpoint.generators,
        "optimizer": checkpoint.optimizer_scalars, "best": checkpoint.best, "settings": checkpoint.settings,
        "first_loss": checkpoint.first_loss, "averaged": checkpoint.averages is not None,
    }
    write_npz_atomic(path, arrays, meta, kind=KIND)


def load_checkpoint(path) -> Checkpoint:
    """Read a checkpoint written by save_checkpoint.

    Raises:
        FileNotFoundError: no such file.
        ValueError: a truncated or corrupt file (checksum or format), or a file that is not a
            checkpoint (e.g. a saved model); the message says which.
    """
    arrays, meta = read_npz_checked(path, kind=KIND)
    if meta.get("version") != VERSION:
        raise ValueError(f"{path} is a version {meta.get('version')} checkpoint; this volnet reads version {VERSION}")

    def section(prefix):
        return {name[len(prefix):]: value for name, value in arrays.items() if name.startswith(prefix)}

    try:
        checkpoint = Checkpoint(section("model/"), section("optimizer/"), meta["optimizer"], meta["epoch"],
                                meta["step"], meta["history"], meta["generators"], meta["best"], meta["settings"],
                                meta.get("first_loss"), section("average/") if meta.get("averaged") else None)
        kinds = {"optimizer_scalars": dict, "epoch": int, "step": int, "history": list, "generators": dict,
                 "best": dict, "settings": dict}
        wrong = [name for name, kind in kinds.items() if not isinstance(getattr(checkpoint, name), kind)]
        if wrong:
            raise TypeError(f"{', '.join(wrong)} of the wrong type")
    except (KeyError, TypeError) as error:
        raise damaged_checkpoint(path, f"its metadata lacks or mangles {error}") from None
    return checkpoint


def damaged_checkpoint(path, why: str) -> ValueError:
    """The error for a checkpoint that volnet cannot use, naming the file."""
    return ValueError(f"{path}: this checkpoint is damaged or from another version of volnet ({why}); "
                      f"it cannot be resumed. Start the run again, or use best.npz if it is whole.")
