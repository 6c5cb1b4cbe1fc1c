"""PyTorch weights through safetensors, both ways, never through pickle.

A volnet model's PyTorch twin is the torch.nn.Sequential that computes the same function
(volnet.bench.mirror: flat, as a PyTorch user writes it, nn.Flatten() before the first
Linear, batch norm's gamma and beta as weight and bias, ResidualBlock for res[...]).
Export writes the twin's state_dict — every name, layout and buffer PyTorch uses, including
running_mean, running_var and num_batches_tracked — so that in PyTorch

    twin.load_state_dict(safetensors.torch.load_file("model.safetensors"), strict=True)

works; volnet's own description (architecture, input shape, class names, normalisation)
rides along in the file's metadata. Import reads such a state_dict into a volnet
architecture: the one in the metadata, or the one the caller names for a file PyTorch wrote.
num_batches_tracked is written as 0 and ignored on import (volnet does not count batches;
PyTorch reads the count only when momentum is None).
"""

from __future__ import annotations

import json

import numpy as np

from volnet.bench.mirror import BATCHES_TRACKED, torch_names, torch_state_dict
from volnet.interop.safetensors_file import read_safetensors, write_safetensors
from volnet.limits import BudgetError, load_json
from volnet.models import build_model, model_to_spec
from volnet.models.serialize import rebuild

_SHOWN = 6  # names listed in a message about missing or extra tensors


def export_safetensors(model, path, normalization=None, class_names=None) -> None:
    """Write the state_dict of a built model's PyTorch twin to a safetensors file (float64
    models in float32, the dtype of PyTorch's modules).

    Args:
        model: a built volnet model.
        path: the file to write (atomically).
        normalization: the volnet.data.Normalization the model was trained with, or None.
        class_names: a name per class score, or None.

    Raises:
        TypeError: a layer with no PyTorch counterpart (named).
        ValueError: the model is not built.
    """
    if not model.built:
        raise ValueError(f"{model.label()} is not built, so it has no weights to export; build it first")
    tensors = {key: array.astype(np.float32) if array.dtype == np.float64 else array
               for key, array in torch_state_dict(model).items()}
    metadata = {"format": "volnet", "architecture": json.dumps(model_to_spec(model)),
                "input_shape": json.dumps(list(model.input_shape)), "class_names": json.dumps(class_names),
                "normalization": json.dumps(None if normalization is None else normalization.to_dict())}
    write_safetensors(path, tensors, metadata)


def _architecture(path, metadata, architecture, input_shape):
    """The volnet model the file's tensors are for, built, and where its description came from."""
    if architecture is not None:
        shape = input_shape or _json(path, metadata, "input_shape")
        return build_model(architecture, input_shape=shape)
    if "architecture" not in metadata:
        raise ValueError(f"{path} does not say which architecture its tensors belong to (volnet did not write it); "
                         f"name it: volnet import {path} --arch 'conv3-16 relu pool ... fc10' --input-shape 1,28,28 "
                         f"(in Python: import_safetensors(path, architecture=..., input_shape=...))")
    try:
        model = rebuild(_json(path, metadata, "architecture"), _json(path, metadata, "input_shape"), np.float32,
                        source=f"{path}: its architecture")
    except BudgetError:
        raise
    except (KeyError, TypeError, ValueError) as error:
        raise ValueError(f"{path}: the architecture in its metadata cannot be built: {error}") from None
    return model


def _json(path, metadata, key):
    try:
        return load_json(metadata[key], f"{path}: its metadata entry {key!r}") if key in metadata else None
    except ValueError:
        raise ValueError(f"{path}: its metadata entry {key!r} is not JSON") from None


def _listed(names) -> str:
    names = sorted(names)
    return ", ".join(names[:_SHOWN]) + (f" and {len(names) - _SHOWN} more" if len(names) > _SHOWN else "")


def load_state_dict(model, tensors: dict[str, np.ndarray], path) -> None:
    """Copy a PyTorch twin's state_dict (NumPy arrays by PyTorch name) into a built model.

    Raises:
        ValueError: missing, extra or mis-shaped tensors, or tensors that are not floats; the
            message names the file, the tensors and the volnet layers.
    """
    names = torch_names(model)
    own = model.state()
    expected = set(names.values())
    tracked = {key for key in tensors if key.rsplit(".", 1)[-1] == BATCHES_TRACKED}
    missing, extra = expected - set(tensors), set(tensors) - expected - tracked
    if missing or extra:
        raise ValueError(f"{path} does not hold the state_dict of this architecture's PyTorch twin: "
                         + "; ".join(part for part in (missing and f"missing {_listed(missing)}",
                                                       extra and f"unexpected {_listed(extra)}") if part)
                         + f". The twin's keys are {_listed(expected)} (volnet.bench.mirror.torch_names).")
    for volnet_name, key in names.items():
        tensor, target = tensors[key], own[volnet_name]
        if tensor.shape != target.shape:
            raise ValueError(f"{path}: tensor {key!r} has shape {tensor.shape} but {_owner(model, volnet_name)} "
                             f"wants {target.shape} for its {volnet_name.rsplit('.', 1)[-1]}; the file was saved "
                             f"from another architecture")
        if not np.issubdtype(tensor.dtype, np.floating):
            raise ValueError(f"{path}: tensor {key!r} holds {tensor.dtype} numbers where {_owner(model, volnet_name)} "
                             f"wants floats")
    model.load_state({volnet_name: tensors[key] for volnet_name, key in names.items()})


def _owner(model, volnet_name: str) -> str:
    """The label of the layer that holds the array called volnet_name."""
    prefix = volnet_name.rsplit(".", 1)[0]
    return dict(model.named_layers()).get(prefix, model).label()


def import_safetensors(path, architecture: str | None = None, input_shape=None):
    """Read a PyTorch twin's state_dict from a safetensors file into a volnet model.

    Args:
        path: the .safetensors file (written by export_safetensors, or by
            safetensors.torch.save_file(twin.state_dict(), path) in PyTorch).
        architecture: a preset or architecture string; None to use the one in the file's
            metadata (files volnet wrote carry it).
        input_shape: (D, H, W) of one example, for an architecture string.

    Returns:
        (model in inference mode, {"normalization": dict or None, "class_names": list or None}).

    Raises:
        ValueError: a damaged file, no architecture, or tensors that do not fit it.
    """
    tensors, metadata = read_safetensors(path)
    model = _architecture(path, metadata, architecture, input_shape)
    load_state_dict(model, tensors, path)
    described = metadata.get("format") == "volnet"
    return model.eval(), {"normalization": _json(path, metadata, "normalization") if described else None,
                          "class_names": _json(path, metadata, "class_names") if described else None}
