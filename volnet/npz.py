"""Named arrays plus one JSON object in a checked .npz file, written atomically: the container
under volnet's model files (volnet.models.save_model) and training checkpoints
(volnet.training.checkpoint).

The file (format version 1) is a NumPy .npz archive — an uncompressed zip of .npy files,
exactly as np.savez writes it, so np.load(path, allow_pickle=False) opens it too — holding:

    <name>             every array under its name, e.g. "0.weight" or "optimizer/0.m"
    __volnet__.json    a uint8 array of the UTF-8 bytes of one JSON object:
        format         "volnet"
        version        1
        kind           what the file holds: "model", "checkpoint"
        sha256         hex SHA-256 of the arrays and of this object without "sha256"
                       (see `_digest`), so a damaged file is detected
        meta           what the writer chose (a model's is described in volnet.models.serialize)

Files are written atomically: into a temporary file in the same folder, flushed and
fsync'ed, then renamed over the target with os.replace, so a crash leaves either the old
file or the new one, never half of one; missing folders are created, as for all of
volnet's output files. Reading checks the zip's CRCs, each .npy header against the bytes
its entry holds, the arrays' dtypes (no object arrays, which would need pickle) and the
SHA-256; any failure is a ValueError that says the file is truncated or corrupt.
"""

from __future__ import annotations

import hashlib
import json
import math
import zipfile
import zlib

import numpy as np

from volnet.files import write_atomically
from volnet.limits import check_declared, load_json

FORMAT_VERSION = 1
META_ENTRY = "__volnet__.json"


def to_json(value):
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
    sha.update(json.dumps(unsigned, sort_keys=True, default=to_json).encode())
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
    text = json.dumps(document, default=to_json)
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
