"""Models that leave volnet and come back: ONNX, PyTorch weights through safetensors, ConvNetJS.

    export_model(model, "model.onnx", normalization=..., class_names=...)   # or .safetensors, .json
    model, metadata = import_model("model.onnx")                            # or .safetensors

One module per format: onnx_graph (export and import; needs the onnx package,
pip install "volnet[onnx]"), pytorch (the state_dict of the model's PyTorch twin in a
safetensors file, both ways; NumPy only, through safetensors_file) and convnetjs (export to
the JSON ConvNetJS's fromJSON reads). Nothing is ever unpickled: a PyTorch .pt/.pth file is
refused with the recipe that converts it safely.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

from volnet.interop.convnetjs import convnetjs_net, export_convnetjs
from volnet.interop.onnx_graph import OPSET, export_onnx, import_onnx, onnx_model
from volnet.interop.pytorch import export_safetensors, import_safetensors
from volnet.interop.safetensors_file import read_safetensors, write_safetensors

# format -> (what writes it, the usual file suffix)
FORMATS = {"onnx": (export_onnx, ".onnx"), "safetensors": (export_safetensors, ".safetensors"),
           "convnetjs": (export_convnetjs, ".json")}
_PICKLED = (".pt", ".pth", ".bin", ".ckpt", ".pkl")


def format_of(path, format: str | None = None) -> str:
    """The export format: `format` itself when given, else the one path's suffix names.

    Raises:
        ValueError: an unknown format; no format and a suffix that names none; a format and a
            path whose suffix names another one (a .onnx file of ConvNetJS JSON helps nobody).
    """
    suffix = "" if path is None else Path(path).suffix.lower()
    found = [name for name, (_, usual) in FORMATS.items() if usual == suffix]
    if format is not None:
        if format not in FORMATS:
            raise ValueError(f"unknown format {format!r}; volnet exports {', '.join(FORMATS)}")
        if found and found[0] != format:
            raise ValueError(f"{path} ends in {suffix}, the suffix of {found[0]} files, but the format is {format}; "
                             f"name the file {Path(path).with_suffix(FORMATS[format][1]).name}, or choose "
                             f"format {found[0]}")
        return format
    if not found:
        raise ValueError(f"cannot tell the format from {path}: give one of {', '.join(FORMATS)} "
                         f"(or a file ending in {', '.join(usual for _, usual in FORMATS.values())})")
    return found[0]


def export_model(model, path, format: str | None = None, normalization=None, class_names=None) -> str:
    """Write a built model in another format; returns the format.

    Args:
        model: a built volnet model.
        path: the file to write (atomically).
        format: "onnx", "safetensors" or "convnetjs"; None: from path's suffix.
        normalization: the Normalization (or its {"mean", "std"} dict) the model was trained with.
        class_names: a name per class score.

    Raises:
        ValueError, TypeError: an unknown format, or a layer the format cannot express (named).
        ModuleNotFoundError: ONNX without the onnx package.
    """
    from volnet.data import Normalization

    chosen = format_of(path, format)
    if isinstance(normalization, dict):
        normalization = Normalization(**normalization)
    FORMATS[chosen][0](model, path, normalization, class_names)
    return chosen


def _refuse_pickle(path):
    with open(path, "rb") as file:
        start = file.read(4)
    if Path(path).suffix.lower() in _PICKLED or start[:1] == b"\x80" or start == b"PK\x03\x04":
        safe = Path(path).with_suffix(".safetensors")
        raise ValueError(
            f"{path} looks like a pickled PyTorch file (torch.save); volnet never unpickles, since loading a "
            f"pickle can run any code. Convert it once in PyTorch: python -c \"import torch, safetensors.torch; "
            f"state = torch.load('{path}', weights_only=True); "
            f"safetensors.torch.save_file({{k: v.contiguous() for k, v in state.items()}}, '{safe}')\" "
            f"(for a whole saved module, take its .state_dict() first), then: volnet import {safe} --arch ...")


def _checked(path, model, metadata):
    """(model, metadata) once the class names and normalisation a file declares fit the model."""
    from volnet.data import Normalization

    classes = model.output_shape(model.input_shape)
    names, normalization = metadata["class_names"], metadata["normalization"]
    if names is not None and (not isinstance(names, list) or not all(isinstance(name, str) for name in names)
                              or (len(names),) != classes):
        raise ValueError(f"{path}: its class names {str(names):.80} are not {classes[0]} strings, one per class "
                         f"score of the model")
    if normalization is not None:
        try:
            Normalization(**normalization).check_channels(model.input_shape[0], f"the model's input of {path}")
        except (TypeError, ValueError) as error:
            raise ValueError(f"{path}: its normalisation {str(normalization):.80} does not fit: {error}") from None
    return model, metadata


def import_model(path, architecture: str | None = None, input_shape=None):
    """Read a model from an .onnx or .safetensors file.

    Args:
        path: the file.
        architecture, input_shape: for a safetensors file that does not carry volnet's
            description (one PyTorch wrote): the preset or architecture string and (D, H, W).

    Returns:
        (model in inference mode, {"normalization": dict or None, "class_names": list or None}).

    Raises:
        ValueError: a pickled or damaged file, another format, or contents that do not fit.
        OSError: the file cannot be read.
    """
    path = Path(path)
    suffix = check_importable(path)
    if suffix == ".onnx":
        if architecture is not None or input_shape is not None:
            raise ValueError(f"{path} is an ONNX model, which describes its own layers and input; leave out the "
                             f"architecture and input shape")
        return _checked(path, *import_onnx(path))
    return _checked(path, *import_safetensors(path, architecture, input_shape))


def check_importable(path) -> str:
    """The suffix (".onnx" or ".safetensors") of a file import_model can read, before anything
    is read of it.

    Raises:
        ValueError: a volnet model already, a pickle (never unpickled), or another format.
        OSError: a folder, or a file that cannot be opened.
    """
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), str(path))
    suffix = path.suffix.lower()
    if suffix in (".onnx", ".safetensors"):
        return suffix
    if suffix == ".npz":
        raise ValueError(f"{path} is a volnet model already: use it as it is (volnet eval {path})")
    _refuse_pickle(path)
    raise ValueError(f"cannot import {path}: volnet imports .onnx and .safetensors files"
                     + (" (ConvNetJS JSON is for export only)" if suffix == ".json" else ""))


__all__ = ["FORMATS", "OPSET", "convnetjs_net", "export_convnetjs", "export_model", "export_onnx",
           "check_importable", "export_safetensors", "format_of", "import_model", "import_onnx", "import_safetensors", "onnx_model",
           "read_safetensors", "write_safetensors"]
