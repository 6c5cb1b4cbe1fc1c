"""IDX files, the format of MNIST and Fashion-MNIST: a big-endian header, then raw bytes.

Layout (http://yann.lecun.com/exdb/mnist/):
    bytes 0–1    0x00 0x00
    byte  2      type code; 0x08 = unsigned byte, the only type these datasets use
    byte  3      number of dimensions d
    4·d bytes    each dimension as a big-endian uint32
    the rest     the values, row-major (last dimension fastest)

so an image file starts with the magic number 0x00000803 (N, H, W) and a label file with
0x00000801 (N,). Files may be gzip-compressed; the reader looks at the first bytes, not
at the name.
"""

from __future__ import annotations

import gzip
import math
import os
import struct
import zlib
from pathlib import Path

import numpy as np

from volnet.data.dataset import Dataset
from volnet.limits import check_declared, check_memory, read_declared

UNSIGNED_BYTE = 0x08
GZIP_MAGIC = b"\x1f\x8b"
_CHECKED_TAIL = 1 << 20
_CONTENTS = {1: "labels (N,)", 3: "images (N, H, W)"}


def read_idx(path, ndim: int | None = None) -> np.ndarray:
    """Read an IDX file of unsigned bytes, gzip-compressed or raw.

    Args:
        path: the file.
        ndim: the number of dimensions expected (3 for images, 1 for labels), or None for any.

    Returns:
        a uint8 array of the shape the header gives.

    Raises:
        ValueError: a wrong magic number, a header that promises more values than the file
            holds (checked before they are read: volnet.limits), extra bytes after the values,
            or a damaged gzip stream; the message names the file.
        BudgetError: the header's N×H×W is over volnet's memory budget (volnet.limits).
    """
    path = Path(path)
    with open(path, "rb") as probe:
        compressed = probe.read(2) == GZIP_MAGIC
    try:
        with (gzip.open(path, "rb") if compressed else open(path, "rb")) as stream:
            return _read_values(stream, path, ndim, compressed)
    except (EOFError, gzip.BadGzipFile, zlib.error) as error:
        raise ValueError(f"{path}: the gzip stream is damaged or cut short ({error}). Fetch the file again.") from None


def _read_values(stream, path: Path, ndim: int | None, compressed: bool) -> np.ndarray:
    magic = stream.read(4)
    found = f"0x{int.from_bytes(magic, 'big'):08X}" if len(magic) == 4 else f"only {len(magic)} bytes"
    well_formed = len(magic) == 4 and magic[:3] == bytes([0, 0, UNSIGNED_BYTE]) and magic[3] > 0
    if not well_formed or (ndim is not None and magic[3] != ndim):
        expected = (
            f"0x{(UNSIGNED_BYTE << 8) + ndim:08X}: unsigned bytes, {_CONTENTS.get(ndim, f'{ndim} dimensions')}"
            if ndim
            else "0x000008dd: unsigned bytes in d dimensions"
        )
        raise ValueError(
            f"{path}: wrong magic number: expected {expected}; found {found}. "
            "Check that this is the right IDX file (images and labels not swapped, not compressed twice)."
        )
    dims = magic[3]
    header = stream.read(4 * dims)
    if len(header) < 4 * dims:
        raise ValueError(f"{path}: truncated header: expected {dims} dimensions of 4 bytes, found {len(header)} bytes.")
    shape = struct.unpack(f">{dims}I", header)
    declared, promise = math.prod(shape), f"its header ({' × '.join(map(str, shape))})"
    if not compressed:  # a raw file's size is known: compare before reading anything
        check_declared(path, promise, declared, os.fstat(stream.fileno()).st_size - 4 - 4 * dims)
    check_memory(declared, f"{path}: {promise}")
    values = np.frombuffer(read_declared(stream, path, promise, declared), dtype=np.uint8)
    extra = len(stream.read(_CHECKED_TAIL))  # enough to say so, without reading a huge tail
    if extra:
        raise ValueError(
            f"{path}: {extra}{' or more' if extra == _CHECKED_TAIL else ''} bytes after the {declared} values that "
            f"{promise} promises; "
            "the file is damaged or not an IDX file."
        )
    return values.reshape(shape)


def write_idx(path, array) -> None:
    """Write a uint8 array as an IDX file; gzip-compressed if the name ends in .gz.

    The gzip header carries no time stamp or name, so the same array always gives the same bytes.

    Args:
        path: the file to write.
        array: uint8 array of 1 to 255 dimensions, each below 2³².
    """
    array = np.asarray(array)
    if array.dtype != np.uint8:
        raise TypeError(f"write_idx writes unsigned bytes; got a {array.dtype} array. Convert with .astype(np.uint8).")
    if not 1 <= array.ndim <= 255 or max(array.shape) >= 2**32:
        raise ValueError(f"write_idx: IDX holds 1 to 255 dimensions each below 2**32, got shape {array.shape}.")
    path = Path(path)
    header = bytes([0, 0, UNSIGNED_BYTE, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    content = header + np.ascontiguousarray(array).tobytes()
    path.write_bytes(gzip.compress(content, mtime=0) if path.suffix == ".gz" else content)


def load_idx(images_path, labels_path, class_names=None, name: str | None = None) -> Dataset:
    """A Dataset from an IDX image file (N, H, W) and an IDX label file (N,).

    Args:
        images_path, labels_path: the two files (e.g. train-images-idx3-ubyte.gz and
            train-labels-idx1-ubyte.gz).
        class_names: one name per class; defaults to "0", "1", … up to the largest label.
        name: the dataset's name; defaults to the image file's name.

    Returns:
        a Dataset with images (N, 1, H, W): one channel.
    """
    images, labels = read_idx(images_path, ndim=3), read_idx(labels_path, ndim=1)
    if len(images) != len(labels):
        raise ValueError(
            f"{images_path} holds {len(images)} images but {labels_path} holds {len(labels)} labels; "
            "use the image and label files of the same split (train-* with train-*, t10k-* with t10k-*)."
        )
    if len(images) == 0:
        raise ValueError(f"{images_path}: no images (its header says N = 0); the file is empty or damaged.")
    if class_names is None:
        class_names = [str(label) for label in range(int(labels.max(initial=0)) + 1)]
    if labels.max() >= len(class_names):
        raise ValueError(f"{labels_path}: labels run up to {labels.max()}, but there are {len(class_names)} classes "
                         f"(labels 0 to {len(class_names) - 1}); the file is damaged or belongs to another dataset.")
    return Dataset(images[:, None], labels, class_names, name or Path(images_path).name)
