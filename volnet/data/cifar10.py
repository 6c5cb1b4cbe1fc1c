"""CIFAR-10 in both published formats: the binary batches and the Python (pickle) batches.

60,000 colour images of 32×32 in 10 classes: five training batches and one test batch of
10,000 images each.

Binary version (the folder cifar-10-batches-bin): data_batch_1.bin … data_batch_5.bin and
test_batch.bin, each a run of 3073-byte records

    1 byte       the label, 0–9
    3072 bytes   the pixels: 1024 red, then 1024 green, then 1024 blue, each plane 32×32 row-major

and batches.meta.txt, one class name per line.

Python version (the folder cifar-10-batches-py): data_batch_1 … data_batch_5 and test_batch,
each a dict pickled by Python 2 with the keys b"data" (a (10000, 3072) uint8 array, rows laid
out like the records above), b"labels" (a list of ints), b"batch_label" and b"filenames"; and
batches.meta, a pickled dict whose b"label_names" lists the class names.

Loading a pickle can run any code it names, so the Python batches go through an unpickler
that builds only what these files hold — NumPy arrays, their dtypes and plain Python values —
and refuses every other global before anything runs.
"""

from __future__ import annotations

import io
import pickle
import pickletools
from pathlib import Path

import numpy as np

from volnet.data.dataset import Dataset

try:
    from numpy._core.multiarray import _reconstruct
except ImportError:  # NumPy < 2
    from numpy.core.multiarray import _reconstruct

IMAGE_SHAPE = (3, 32, 32)
PIXELS = 3 * 32 * 32
RECORD_BYTES = 1 + PIXELS
BATCHES = {"train": tuple(f"data_batch_{k}" for k in range(1, 6)), "test": ("test_batch",)}


def python_files(split: str) -> tuple[str, ...]:
    """The files of the Python version for a split: its batches, then batches.meta."""
    return (*BATCHES[_checked(split)], "batches.meta")


def binary_files(split: str) -> tuple[str, ...]:
    """The files of the binary version for a split: its batches, then batches.meta.txt."""
    return (*(f"{batch}.bin" for batch in BATCHES[_checked(split)]), "batches.meta.txt")


def _checked(split: str) -> str:
    if split not in BATCHES:
        raise ValueError(f"CIFAR-10 has the splits 'train' and 'test', got split={split!r}.")
    return split


def load_cifar10_binary(folder, split: str = "train") -> Dataset:
    """CIFAR-10 from the binary batches in `folder` (usually cifar-10-batches-bin).

    Returns:
        a Dataset with images (N, 3, 32, 32): N = 50,000 for "train", 10,000 for "test".

    Raises:
        FileNotFoundError: a batch or batches.meta.txt is missing.
        ValueError: a file that is not a whole number of 3073-byte records, or a label
            beyond the class names; the message names the file.
    """
    folder = Path(folder)
    *batches, meta = binary_files(split)
    text = _text(folder / meta, (folder / meta).read_bytes())
    class_names = [line.strip() for line in text.splitlines() if line.strip()]
    if not class_names:
        raise ValueError(f"{folder / meta}: no class names (one per line expected, e.g. airplane, automobile, ...); "
                         f"the file is empty or damaged.")
    return _assemble([_read_binary_batch(folder / batch) for batch in batches], class_names, f"cifar10/{split}")


def load_cifar10_python(folder, split: str = "train") -> Dataset:
    """CIFAR-10 from the pickled Python batches in `folder` (usually cifar-10-batches-py),
    read by the restricted unpickler (see the module docstring).

    Returns:
        a Dataset with images (N, 3, 32, 32): N = 50,000 for "train", 10,000 for "test".

    Raises:
        FileNotFoundError: a batch or batches.meta is missing.
        ValueError: a file the restricted unpickler refuses (it names a global other than
            NumPy's array builders) or that is not a CIFAR-10 batch; the message names the file.
    """
    folder = Path(folder)
    *batches, meta = python_files(split)
    label_names = _field(folder / meta, _read_pickle(folder / meta), b"label_names")
    if not isinstance(label_names, list) or not label_names or not all(isinstance(name, (bytes, str))
                                                                       for name in label_names):
        raise ValueError(f"{folder / meta}: b'label_names' must be a non-empty list of class names (strings); found "
                         f"a {type(label_names).__name__}. The file is damaged or not CIFAR-10's batches.meta.")
    class_names = [_text(folder / meta, name) for name in label_names]
    return _assemble([_read_python_batch(folder / batch) for batch in batches], class_names, f"cifar10/{split}")


def _read_binary_batch(path: Path) -> tuple[Path, np.ndarray, np.ndarray]:
    """(path, pixels (n, 3072), labels (n,)) from one binary batch."""
    records = np.fromfile(path, dtype=np.uint8)
    if records.size == 0 or records.size % RECORD_BYTES:
        raise ValueError(
            f"{path}: {records.size} bytes is not a whole number of {RECORD_BYTES}-byte records "
            f"(1 label byte + {PIXELS} pixel bytes): {records.size // RECORD_BYTES} records and "
            f"{records.size % RECORD_BYTES} bytes left over. The file is truncated or not a CIFAR-10 binary batch."
        )
    records = records.reshape(-1, RECORD_BYTES)
    return path, records[:, 1:], records[:, 0]


def _read_python_batch(path: Path) -> tuple[Path, np.ndarray, np.ndarray]:
    """(path, pixels (n, 3072), labels (n,)) from one pickled batch."""
    batch = _read_pickle(path)
    pixels, labels = _field(path, batch, b"data"), _field(path, batch, b"labels")
    if not (isinstance(pixels, np.ndarray) and pixels.dtype == np.uint8 and pixels.ndim == 2 and pixels.size
            and pixels.shape[1] == PIXELS):
        raise ValueError(
            f"{path}: b'data' must be a uint8 array of shape (n, {PIXELS}) with n > 0, "
            f"got {type(pixels).__name__} {getattr(pixels, 'dtype', '')} {getattr(pixels, 'shape', '')}."
        )
    # checked as the flat list of ints it must be before NumPy sees it: nested lists that share
    # their items could make np.asarray build far more than the file holds
    if not isinstance(labels, (list, np.ndarray)) or len(labels) != len(pixels) or (
            isinstance(labels, list) and not all(type(label) is int for label in labels)) or (
            isinstance(labels, np.ndarray) and (labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer))):
        if not isinstance(labels, (list, np.ndarray)):
            found = f"a {type(labels).__name__}"
        elif len(labels) != len(pixels):
            found = f"a {type(labels).__name__} of {len(labels)}"
        else:
            found = f"a {type(labels).__name__} of {len(labels)} whose items are not all integers"
        raise ValueError(f"{path}: b'labels' must be a list of {len(pixels)} integers, one per image; found {found}. "
                         f"The file is damaged or not a CIFAR-10 batch.")
    labels = np.asarray(labels, dtype=np.int64)
    return path, pixels, labels


def _assemble(batches, class_names: list[str], name: str) -> Dataset:
    """One Dataset from (path, pixels (n, 3072), labels (n,)) batches, labels checked per file."""
    for path, _, labels in batches:
        if labels.max() >= len(class_names) or labels.min() < 0:
            raise ValueError(
                f"{path}: labels run from {labels.min()} to {labels.max()}, but there are "
                f"{len(class_names)} class names; the file is damaged or not a CIFAR-10 batch."
            )
    pixels = np.concatenate([pixels for _, pixels, _ in batches])
    labels = np.concatenate([labels for _, _, labels in batches])
    return Dataset(pixels.reshape(-1, *IMAGE_SHAPE), labels, class_names, name)


def _field(path: Path, content, key: bytes):
    if not isinstance(content, dict) or key not in content:
        found = f"the keys {_listed(list(content))}" if isinstance(content, dict) else f"a {type(content).__name__}"
        raise ValueError(f"{path}: expected a dict with the key {key!r}, found {found}. Is this a CIFAR-10 file?")
    return content[key]


def _listed(keys, shown: int = 5) -> str:
    return ", ".join(map(repr, keys[:shown])) + (f" and {len(keys) - shown} more" if len(keys) > shown else "")


def _text(path: Path, value: bytes | str) -> str:
    """A class name or the meta file as text; UTF-8, else the file is named as damaged."""
    if isinstance(value, str):
        return value
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ValueError(f"{path}: class names are not UTF-8 text ({error}); the file is damaged or not "
                         f"CIFAR-10's.") from None


def _latin1_bytes(text: str, encoding: str) -> bytes:
    """_codecs.encode as Python 3 uses it to pickle bytes at protocol 2, and no other codec."""
    if encoding not in ("latin1", "latin-1"):
        raise pickle.UnpicklingError(f"refused to run _codecs.encode with the codec {encoding!r}")
    return text.encode("latin-1")


class RestrictedUnpickler(pickle.Unpickler):
    """An unpickler that builds NumPy arrays, dtypes and plain Python values, and nothing else.

    Lists, dicts, strings and numbers need no global. Arrays need _reconstruct (under
    NumPy 1's and NumPy 2's module names), ndarray and dtype; bytes written by Python 3 at
    protocol 2 need _codecs.encode, allowed for the latin-1 codec only. Any other global —
    os.system, builtins.eval, a class — is refused before it is called.
    """

    ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"): _reconstruct,
        ("numpy._core.multiarray", "_reconstruct"): _reconstruct,
        ("numpy", "ndarray"): np.ndarray,
        ("numpy", "dtype"): np.dtype,
        ("_codecs", "encode"): _latin1_bytes,
    }

    def find_class(self, module, name):
        try:
            return self.ALLOWED[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(
                f"refused to load the global {module}.{name}: a CIFAR-10 batch holds only NumPy arrays and "
                "plain Python values, so this file is not one (or was tampered with). Nothing in it was run."
            ) from None


def _read_pickle(path: Path):
    """Unpickle `path` with RestrictedUnpickler; Python 2's str comes back as bytes."""
    # The unpickler allocates each string as long as the pickle says before reading it, so every
    # opcode's length is first checked against the bytes present by walking the opcodes
    # (pickletools reads what is there, never what is promised); then nothing can promise more.
    content = path.read_bytes()
    try:
        for _ in pickletools.genops(io.BytesIO(content)):
            pass
    except ValueError as error:
        raise ValueError(f"{path} is truncated or damaged: {error}. Fetch the file again.") from None
    try:
        return RestrictedUnpickler(io.BytesIO(content), encoding="bytes").load()
    except Exception as error:  # whatever a malformed pickle raises, name the file
        raise ValueError(f"{path}: cannot read as a CIFAR-10 Python batch: {error or type(error).__name__}") from None
