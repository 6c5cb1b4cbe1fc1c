"""The folder of a training run, and the model a path stands for.

`volnet train` (volnet.training.run.train) writes into its output folder

    model.npz        the finished model: weights, architecture, class names, normalisation
    checkpoint.npz   the last completed epoch, from which a killed run resumes
    best.npz         the checkpoint of the best epoch (by the monitored value)

and history.json, metrics.json, curves.png. Wherever volnet takes a model — load_model,
load_trained_model, every MODEL argument of the volnet command — a run's folder stands for
its model.npz (`model_file`).
"""

from __future__ import annotations

from pathlib import Path

MODEL_FILE = "model.npz"
LAST_CHECKPOINT = "checkpoint.npz"
BEST_CHECKPOINT = "best.npz"


def model_file(path) -> Path:
    """The model file `path` names: the file itself, or the model.npz inside a run's folder.

    Raises:
        FileNotFoundError: nothing at path.
        ValueError: a folder without model.npz (a run that has not finished, or no run), or
            another file of a run (a checkpoint, history.json); the message says which file to give instead.

    Example: model_file("runs/fashion") -> Path("runs/fashion/model.npz").
    """
    path = Path(path)
    model = path / MODEL_FILE if path.is_dir() else path.with_name(MODEL_FILE)
    instead = f"give {model}" if model.is_file() else f"give the {MODEL_FILE} that `volnet train` wrote"
    if path.is_dir():
        if model.is_file():
            return model
        if (path / LAST_CHECKPOINT).is_file():
            raise ValueError(f"{path} holds a run that has not finished (it has {LAST_CHECKPOINT} but no "
                             f"{MODEL_FILE}); finish it with: volnet train --resume {path}")
        raise ValueError(f"{path} is a folder without a {MODEL_FILE}; {instead}")
    if not path.is_file():
        raise FileNotFoundError(f"no model file at {path}; {instead}")
    if path.name in (LAST_CHECKPOINT, BEST_CHECKPOINT):
        epoch = "last" if path.name == LAST_CHECKPOINT else "best"
        raise ValueError(f"{path} is a training checkpoint (of the {epoch} epoch), not a model; {instead}")
    if path.suffix != ".npz":
        raise ValueError(f"{path} is not a model file (a .npz file); {instead}")
    return path
