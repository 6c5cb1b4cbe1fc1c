"""Saving and loading models in a file that cannot run code when it is opened.

The file format (version 1) is a NumPy .npz archive — an uncompressed zip of .npy files,
exactly as np.savez writes it, so np.load(path, allow_pickle=False) opens it too — holding:

    <name>             every array of the model's state() under its dotted name, e.g.
                       "0.weight", "3.body.1.running_mean" (see Layer.state)
    __volnet__.json    a uint8 array of the UTF-8 bytes of one JSON object:
        format         "volnet"
        version        1
        kind           "model" here; volnet.training writes "checkpoint" files the same way
        sha256         hex SHA-256 of the arrays and of this object without "sha256"
                       (see `_digest`), so a damaged file is detected
        meta           what the writer chose; for a model:
            architecture   the layers as JSON (see model_to_spec), nested for Residual and
                           Sequential, so models built in Python save as well as presets
            input_shape    (D, H, W) of one example
            dtype          "float32" or "float64"
            class_names    a name per class score, or null
            metadata       the caller's dict: e.g. normalisation mean/std, training details

Files are written atomically: into a temporary file in the same folder, flushed and
fsync'ed, then renamed over the target with os.replace, so a crash leaves either the old
file or the new one, never half of one; missing folders are created, as for all of
volnet's output files. Reading checks the zip's CRCs, the arrays' dtypes (no object
arrays, which would need pickle) and the SHA-256; any failure is a ValueError that says
the file is truncated or corrupt.

write_npz_atomic and read_npz_checked are the general pair under save_model/load_model: any
set of named arrays plus a JSON object (training checkpoints use them for model state,
optimizer state and the progress of a run).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import zipfile
import zlib

import numpy as np

from volnet.files import write_atomically
from volnet.limits import MAX_LAYERS, BudgetError, check_declared, load_json
from volnet.models.budget import check_model_memory
from volnet.layers import Layer
from volnet.layers.registry import layer_types

FORMAT_VERSION = 1
META_ENTRY = "__volnet__.json"


# -- named arrays + JSON, atomically ----------------------------------------------------------

def _to_json(value):
    """json.dumps' fallback: NumPy scalars become numbers and arrays become (nested) lists."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON-serialisable; give numbers, strings, lists and dicts "
                    f"(or put arrays among the arrays)")


def _digest(arrays: dict[str, np.ndarray], document: dict) -> str:
    """SHA-256 over each array's name, dtype, shape and bytes (sorted by name), then over the
    JSON object (keys sorted) without its "sha256" entry."""
    sha = hashlib.sha256()
    for name in sorted(arrays):
        array = np.ascontiguousarray(arrays[name])
        sha.update(f"{name}\0{array.dtype.str}\0{array.shape}\0".encode())
        sha.update(array.tobytes())
    unsigned = {key: value for key, value in document.items() if key != "sha256"}
    sha.update(json.dumps(unsigned, sort_keys=True, default=_to_json).encode())
    return sha.hexdigest()


def write_npz_atomic(path, arrays: dict[str, np.ndarray], meta: dict, kind: str) -> None:
    """Write named arrays and a JSON object to one .npz file, atomically (format in the module doc).

    Args:
        path: the file to write (missing folders are created); an existing file is replaced
            only once the new one is completely on disk.
        arrays: name -> numeric NumPy array (bool, integer, float or complex). Names must not
            start with "__volnet__".
        meta: a JSON-serialisable dict (NumPy scalars and arrays are turned into numbers and
            lists); read back by read_npz_checked as it was written.
        kind: what the file holds, e.g. "model" or "checkpoint"; read_npz_checked can insist on it.

    Raises:
        TypeError: an array of Python objects (it would need pickle), or meta that JSON cannot hold.
        ValueError: a reserved array name.
        OSError: the folder cannot be created or written to, or the file cannot be written (no
            space left, ...): the message names the file and says the earlier one is intact
            (volnet.files.write_atomically).

    Example:
        >>> path = os.path.join(tempfile.mkdtemp(), "checkpoint.npz")
        >>> write_npz_atomic(path, {"model.0.weight": np.ones((2, 3))}, {"step": 1200}, kind="checkpoint")
        >>> arrays, meta = read_npz_checked(path, kind="checkpoint")
        >>> arrays["model.0.weight"].shape, meta
        ((2, 3), {'step': 1200})
    """
    arrays = {name: np.asarray(array) for name, array in arrays.items()}
    for name, array in arrays.items():
        if name.startswith("__volnet__"):
            raise ValueError(f"array name {name!r} is reserved for volnet's own entry; rename the array")
        if array.dtype.hasobject or array.dtype.kind not in "biufc":
            raise TypeError(f"array {name!r} has dtype {array.dtype}; volnet files hold numeric arrays only "
                            f"(others would need pickle). Convert it, or put it in meta as JSON.")
    document = {"format": "volnet", "version": FORMAT_VERSION, "kind": kind, "meta": meta}
    document["sha256"] = _digest(arrays, document)
    text = json.dumps(document, default=_to_json)
    entries = {**arrays, META_ENTRY: np.frombuffer(text.encode("utf-8"), dtype=np.uint8)}


    def write(file):
        # np.savez's layout, written directly so that no array name can clash with its arguments
        with zipfile.ZipFile(file, "w", zipfile.ZIP_STORED, allowZip64=True) as archive:
            for name, array in entries.items():
                with archive.open(f"{name}.npy", "w", force_zip64=True) as member:
                    np.lib.format.write_array(member, array, allow_pickle=False)

    write_atomically(path, write, what=kind)


def _damaged(path, why: str) -> ValueError:
    return ValueError(f"{path} is truncated or corrupt ({why}); it cannot be loaded. "
                      f"Use another copy, or save it again.")


def _read_entry(archive: zipfile.ZipFile, name: str, path) -> np.ndarray:
    """One array of the archive, its .npy header checked against the bytes the entry holds
    before any array is made (volnet.limits.check_declared); never unpickles."""
    info = archive.getinfo(name)
    with archive.open(info) as member:
        try:
            version = np.lib.format.read_magic(member)
            header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
            shape, fortran_order, dtype = header(member)
        except (ValueError, SyntaxError, TypeError) as error:
            raise _damaged(path, f"entry {name[:-4]!r} has no valid array header ({error})") from None
        if dtype.hasobject:
            raise ValueError(f"{path}: entry {name[:-4]!r} holds Python objects (a pickled object array). volnet "
                             f"refuses to unpickle because that can run arbitrary code; volnet files hold numeric "
                             f"arrays only. Only load files from sources you trust, and re-save the model with volnet.")
        if dtype.kind not in "biufc" or dtype.subdtype is not None:
            raise _damaged(path, f"entry {name[:-4]!r} has dtype {dtype}, and volnet files hold numeric arrays only")
        declared, present = math.prod(shape) * dtype.itemsize, info.file_size - member.tell()
        check_declared(path, f"entry {name[:-4]!r} (shape {shape}, {dtype})", declared, present)
        if declared != present:
            raise _damaged(path, f"entry {name[:-4]!r} holds {present - declared} bytes more than its array")
        data = bytearray(member.read(declared))
    return np.frombuffer(data, dtype=dtype).reshape(shape, order="F" if fortran_order else "C")


def read_npz_checked(path, kind: str | None = None) -> tuple[dict[str, np.ndarray], dict]:
    """Read a file written by write_npz_atomic and check that it is whole.

    Args:
        path: the .npz file.
        kind: if given, the kind the file must hold (e.g. "model").

    Returns:
        (arrays, meta): the named arrays and the JSON object, as written.

    Raises:
        ValueError: the file is truncated or corrupt (bad zip, bad CRC, bad JSON, SHA-256
            mismatch), holds pickled objects, is not a volnet file, is of a newer format
            version, or is of another kind.
        OSError: the file cannot be opened.
    """
    try:
        with zipfile.ZipFile(path) as archive:
            for info in archive.infolist():  # volnet stores; a compressed entry could expand without bound
                if info.compress_type != zipfile.ZIP_STORED:
                    raise _damaged(path, f"entry {info.filename!r} is compressed, and volnet reads only uncompressed "
                                         f"entries, which cannot expand without bound: a file made with "
                                         f"np.savez_compressed must be saved with np.savez or volnet.save_model")
                if info.file_size != info.compress_size:
                    raise _damaged(path, f"entry {info.filename!r} claims {info.file_size:,} bytes but stores "
                                         f"{info.compress_size:,}")
            damaged = archive.testzip()  # checks every entry's CRC before NumPy parses any header
            if damaged is not None:
                raise _damaged(path, f"entry {damaged!r} fails its CRC check")
            names = archive.namelist()
            if f"{META_ENTRY}.npy" not in names or not all(name.endswith(".npy") for name in names):
                raise ValueError(f"{path} is not a volnet file: it has no {META_ENTRY} entry, or entries that are "
                                 f"not arrays. volnet reads files written by volnet.models.save_model (or "
                                 f"write_npz_atomic).")
            entries = {name[:-4]: _read_entry(archive, name, path) for name in names}
    except (zipfile.BadZipFile, EOFError, zlib.error, NotImplementedError) as error:
        raise _damaged(path, f"{type(error).__name__}: {error}") from None
    raw = entries.pop(META_ENTRY)
    try:
        document = load_json(raw.tobytes(), f"its {META_ENTRY} entry")
        version, stored = document["version"], document["sha256"]
    except (ValueError, KeyError, TypeError) as error:
        raise _damaged(path, str(error) if isinstance(error, ValueError) else
                       f"its {META_ENTRY} entry is not valid: {error}") from None
    if document.get("format") != "volnet":
        raise ValueError(f"{path} is not a volnet file (format {document.get('format')!r})")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise ValueError(f"{path} has format version {version}; this volnet reads versions up to {FORMAT_VERSION}. "
                         f"Upgrade volnet to load it.")
    if _digest(entries, document) != stored:
        raise _damaged(path, "its SHA-256 does not match its contents")
    if kind is not None and document.get("kind") != kind:
        raise ValueError(f"{path} holds a {document.get('kind')}, not a {kind}")
    return entries, document["meta"]


# -- models as JSON -----------------------------------------------------------------------------

def model_to_spec(layer: Layer) -> dict:
    """The layers of a model as JSON-friendly data, without any arrays.

    A layer is {"type": class name, **layer.spec(...)}: {"type": ..., "config": its constructor
    arguments (Layer.config)} for most; a Sequential is {"type": "Sequential", "layers": [...]};
    a Residual is {"type": "Residual", "body": <Sequential spec>, "projection": <spec> or null}.

    Raises:
        TypeError: a layer type volnet cannot rebuild (not registered in volnet.layers.registry).
    """
    return json.loads(json.dumps(_spec(layer), default=_to_json))


def _spec(layer: Layer) -> dict:
    name, known = type(layer).__name__, layer_types()
    if known.get(name) is not type(layer):
        raise TypeError(f"{layer.label()} cannot be saved: only volnet's own layer types can be rebuilt from a "
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
    """Load a model saved by save_model.

    Returns:
        (model, metadata): the model, built, holding the saved state, in inference mode (call
        model.train() to go on training); metadata is the dict given to save_model plus
        "class_names" (None when none were saved), also reachable as model.metadata.

    Raises:
        ValueError: the file is truncated, corrupt, holds pickled objects, is not a model,
            or its arrays do not fit its architecture.
        OSError: the file cannot be opened.
    """
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
