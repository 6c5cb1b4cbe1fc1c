"""Saving and loading models in a file that cannot run code when it is opened.

A model file is a volnet.npz container (a checked .npz archive of named arrays plus one
JSON object, written atomically) of kind "model", holding

    arrays   every array of the model's state() under its dotted name, e.g.
             "0.weight", "3.body.1.running_mean" (see Layer.state)
    meta     architecture   the layers as JSON (see model_to_spec), nested for Residual and
                            Sequential, so models built in Python save as well as presets
             input_shape    (D, H, W) of one example
             dtype          "float32" or "float64"
             class_names    a name per class score, or null
             metadata       the caller's dict: e.g. normalisation mean/std, training details

Reading it back rebuilds the architecture (checked against volnet's memory budget first)
and loads the arrays into it; any failure is a ValueError that names the file.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from volnet.limits import MAX_LAYERS, BudgetError
from volnet.models.budget import check_model_memory
from volnet.layers import Layer
from volnet.layers.registry import layer_types
from volnet.npz import read_npz_checked, to_json, write_npz_atomic
from volnet.run_folder import model_file


# -- models as JSON -----------------------------------------------------------------------------

def model_to_spec(layer: Layer) -> dict:
    """The layers of a model as JSON-friendly data, without any arrays.

    A layer is {"type": class name, **layer.spec(...)}: {"type": ..., "config": its constructor
    arguments (Layer.config)} for most; a Sequential is {"type": "Sequential", "layers": [...]};
    a Residual is {"type": "Residual", "body": <Sequential spec>, "projection": <spec> or null}.

    Raises:
        TypeError: a layer type volnet cannot rebuild (not registered in volnet.layers.registry).
    """
    return json.loads(json.dumps(_spec(layer), default=to_json))


def _spec(layer: Layer) -> dict:
    name, known = type(layer).__name__, layer_types()
    if known.get(name) is not type(layer):
        raise TypeError(f"{layer.label()} cannot be saved: only registered layer types can be rebuilt from a "
                        f"file ({', '.join(sorted(known))})")
    return {"type": name, **layer.spec(_spec)}


def model_from_spec(spec: dict) -> Layer:
    """Rebuild the (unbuilt) layers described by model_to_spec (each type's Layer.from_spec).

    Raises:
        ValueError: an unknown layer type or a malformed spec.
    """
    count = [0]  # layers made so far, against MAX_LAYERS
    return _layer_from_spec(spec, count)


def _layer_from_spec(spec, count: list[int]) -> Layer:
    if not isinstance(spec, dict) or "type" not in spec:
        raise ValueError(f"a layer spec is a dict with a 'type', got {str(spec)[:80]}")
    name, known = spec["type"], layer_types()
    if not isinstance(name, str) or name not in known:
        raise ValueError(f"unknown layer type {str(name)[:40]!r}; volnet knows {', '.join(sorted(known))}")
    count[0] += 1
    if count[0] > MAX_LAYERS:
        raise ValueError(f"the architecture has more than {MAX_LAYERS:,} layers, beyond volnet's limit "
                         f"(MAX_LAYERS in volnet.limits)")
    try:
        return known[name].from_spec(spec, lambda inner: _layer_from_spec(inner, count))
    except (KeyError, TypeError) as error:
        raise ValueError(f"malformed {name} spec {str(spec)[:200]}: {error}") from None


def save_model(path, model: Layer, metadata: dict | None = None, class_names=None) -> None:
    """Save a built model's architecture, state and metadata to one .npz file (format in the module doc).

    Args:
        path: the file to write, conventionally *.npz; replaced atomically.
        model: a built model (usually a Sequential).
        metadata: JSON-serialisable dict returned by load_model, e.g. {"mean": 0.286, "std": 0.353,
            "epochs": 10}. NumPy scalars and arrays are stored as numbers and lists.
        class_names: a name for each class score, e.g. Fashion-MNIST's "T-shirt/top", ...

    Raises:
        ValueError: the model is not built (it has no input shape yet).
        TypeError: the arguments in the wrong order (the model first, as torch.save takes
            them), a model that is not a volnet layer, a layer type that cannot be saved, or
            metadata JSON cannot hold.
        OSError: the folder cannot be created or written to.
    """
    if isinstance(path, Layer):
        raise TypeError(f"save_model takes the file path first and the model second: save_model(path, model); "
                        f"got a {type(path).__name__} as path and {model!r} as model. Swap them.")
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"save_model(path, model): path must be a file name (str or pathlib.Path), "
                        f"got {type(path).__name__}")
    if not isinstance(model, Layer):
        raise TypeError(f"save_model(path, model): model must be a volnet model or layer (e.g. a Sequential), "
                        f"got {type(model).__name__}")
    if not model.built:
        raise ValueError(f"{model.label()} is not built, so it has no weights to save; build it with "
                         f"model.build(input_shape) or run a batch through it first")
    meta = {"architecture": model_to_spec(model), "input_shape": list(model.input_shape),
            "dtype": str(model.dtype), "class_names": None if class_names is None else [str(c) for c in class_names],
            "metadata": metadata or {}}
    write_npz_atomic(path, model.state(), meta, kind="model")


def load_model(path) -> tuple[Layer, dict]:
    """Load a model saved by save_model, from its file or from the folder of the training run
    that wrote it (volnet.run_folder.model_file: the folder's model.npz).

    Returns:
        (model, metadata): the model, built, holding the saved state, in inference mode (call
        model.train() to go on training); metadata is the dict given to save_model plus
        "class_names" (None when none were saved), also reachable as model.metadata.
        model.loaded_from is the file it was read from (a Path).

    Raises:
        ValueError: the file is truncated, corrupt, holds pickled objects, is not a model,
            or its arrays do not fit its architecture; a folder without a finished run's model.
        OSError: the file cannot be opened.

    Example: load_model("runs/fashion")[0].loaded_from -> Path("runs/fashion/model.npz").
    """
    path = model_file(path) if Path(path).is_dir() else Path(path)
    arrays, meta = read_npz_checked(path, kind="model")
    try:
        model = rebuild(meta["architecture"], meta["input_shape"], meta["dtype"], source=f"{path}: its architecture")
        model.load_state(arrays)
        metadata, class_names = meta["metadata"], meta["class_names"]
        if not isinstance(metadata, dict):
            raise TypeError(f"its metadata is a {type(metadata).__name__}, not a dict")
    except BudgetError:
        raise
    except (KeyError, TypeError, ValueError) as error:
        raise ValueError(f"{path}: the saved model cannot be rebuilt (the file is damaged or from another version of "
                         f"volnet): {error}") from None
    model.metadata = {**metadata, "class_names": class_names}  # reachable from the model object too
    model.loaded_from = path
    return model.eval(), model.metadata


def rebuild(spec, input_shape, dtype, source: str) -> Layer:
    """A model built from a saved architecture (model_to_spec's JSON), input shape (a list) and
    dtype, once they are checked and its memory is known to fit volnet's budget.

    Raises:
        BudgetError: the model would not fit (the message starts with `source`).
        ValueError, TypeError, KeyError: the spec, shape or dtype is not one volnet writes.
    """
    model = model_from_spec(spec)
    input_shape, dtype = _input_shape(input_shape), np.dtype(dtype)
    if dtype not in (np.float32, np.float64):
        raise ValueError(f"dtype {dtype} is not float32 or float64")
    check_model_memory(model, input_shape, dtype, source=source)
    model.build(input_shape, dtype=dtype)
    return model


def _input_shape(value) -> tuple[int, ...]:
    """A saved input shape, (D, H, W) or (D,) of positive whole numbers."""
    if not isinstance(value, list) or len(value) not in (1, 3) or not all(
            type(size) is int and size >= 1 for size in value):
        raise ValueError(f"its input shape {str(value)[:60]} is not (D, H, W) or (D,) of positive whole numbers")
    return tuple(value)
