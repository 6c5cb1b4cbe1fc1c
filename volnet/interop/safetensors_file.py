"""The safetensors container, read and written with NumPy alone.

A safetensors file is
    8 bytes      n, the length of the header, an unsigned little-endian 64-bit integer
    n bytes      a JSON object: {name: {"dtype": "F32", "shape": [K, D, F, F],
                 "data_offsets": [begin, end]}, ..., "__metadata__": {str: str}}
                 (volnet pads it with spaces to a multiple of 8 bytes, as the reference writer does)
    the rest     the tensors' bytes, little-endian and C-ordered, tensor by tensor; offsets
                 count from the first byte after the header, and the tensors cover it exactly.

Why a reader of our own rather than the `safetensors` package: volnet's core needs NumPy
only, and each check below can name the file and the tensor. The tests check both ways
against the package: files it writes are read here, files written here are read by it.

The reader never trusts a length it has not checked: the header length is compared with the
file's size before the header is read (so a header that claims more than the file holds
costs nothing), the header is at most MAX_HEADER bytes, and every tensor's extent must
match its shape and dtype and lie inside the file, so memory never exceeds the file's size.
"""

from __future__ import annotations

import json
import math
import os

import numpy as np

from volnet.files import write_atomically
from volnet.limits import load_json

MAX_HEADER = 100 * 2**20  # 100 MB, the reference implementation's limit
METADATA = "__metadata__"
# safetensors dtype -> NumPy dtype (little-endian); BF16 is read as the upper halves of float32
DTYPES = {"F64": "<f8", "F32": "<f4", "F16": "<f2", "BF16": "<u2", "I64": "<i8", "I32": "<i4", "I16": "<i2",
          "I8": "i1", "U8": "u1", "BOOL": "?"}
_NAMES = {np.dtype(code): name for name, code in DTYPES.items() if name != "BF16"}


def _damaged(path, why: str) -> ValueError:
    return ValueError(f"{path} is not a valid safetensors file: {why}")


def write_safetensors(path, tensors: dict[str, np.ndarray], metadata: dict[str, str] | None = None) -> None:
    """Write named arrays (and string metadata) to a safetensors file, atomically.

    Args:
        path: the file to write; replaced only once the new one is completely on disk.
        tensors: name -> array of a dtype safetensors has (float16/32/64, int8–64, uint8, bool).
        metadata: str -> str, stored under "__metadata__".

    Raises:
        TypeError: an array of another dtype, or metadata that is not str -> str.
        OSError: the folder cannot be written.
    """
    header, arrays, offset = {}, [], 0
    for name, tensor in tensors.items():
        array = np.asarray(tensor)  # tobytes() below lays it out C-ordered
        native = array.dtype.newbyteorder("<") if array.dtype.byteorder == ">" else array.dtype
        if native not in _NAMES:
            raise TypeError(f"tensor {name!r} has dtype {array.dtype}, which safetensors cannot hold")
        array = array.astype(native.newbyteorder("<"), copy=False)
        header[name] = {"dtype": _NAMES[native], "shape": list(array.shape),
                        "data_offsets": [offset, offset + array.nbytes]}
        arrays.append(array)
        offset += array.nbytes
    if metadata:
        if not all(isinstance(key, str) and isinstance(value, str) for key, value in metadata.items()):
            raise TypeError("safetensors metadata maps strings to strings; encode other values as JSON text")
        header = {METADATA: dict(metadata), **header}
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)

    def write(file):
        file.write(len(text).to_bytes(8, "little"))
        file.write(text)
        for array in arrays:
            file.write(array.tobytes())

    write_atomically(path, write, what="safetensors file")


def _header(path, file, size: int) -> tuple[dict, int]:
    """The parsed header and its length, after checking the length against the file's size and MAX_HEADER."""
    start = file.read(8)
    if len(start) < 8:
        raise _damaged(path, f"it holds {size} bytes, fewer than the 8 that give the header's length (truncated?)")
    length = int.from_bytes(start, "little")
    if length > size - 8:
        raise _damaged(path, f"its header claims {length} bytes but the file holds only {size - 8} after the "
                             f"length (truncated, or not a safetensors file)")
    if length > MAX_HEADER:
        raise _damaged(path, f"its header claims {length} bytes, more than the {MAX_HEADER} volnet reads")
    try:
        header = load_json(file.read(length), "the header")
    except ValueError as error:
        raise _damaged(path, f"its header is not JSON ({error})") from None
    if not isinstance(header, dict):
        raise _damaged(path, "its header is not a JSON object")
    return header, length


def _extent(path, name: str, entry, data_size: int) -> tuple[np.dtype, tuple[int, ...], int, int]:
    """(dtype, shape, begin, end) of one header entry, each checked."""
    if not isinstance(entry, dict) or entry.get("dtype") not in DTYPES:
        dtype = entry.get("dtype") if isinstance(entry, dict) else None
        raise _damaged(path, f"tensor {name!r} has dtype {dtype!r}; volnet reads {', '.join(DTYPES)}")
    shape, offsets = entry.get("shape"), entry.get("data_offsets")
    if not (isinstance(shape, list) and all(isinstance(s, int) and s >= 0 for s in shape)):
        raise _damaged(path, f"tensor {name!r} has shape {shape!r}, not a list of sizes ≥ 0")
    if not (isinstance(offsets, list) and len(offsets) == 2 and all(isinstance(o, int) for o in offsets)
            and 0 <= offsets[0] <= offsets[1] <= data_size):
        raise _damaged(path, f"tensor {name!r} has data_offsets {offsets!r}, outside the {data_size} bytes of "
                             f"tensor data the file holds (truncated?)")
    dtype = np.dtype(DTYPES[entry["dtype"]])
    expected = math.prod(shape) * dtype.itemsize
    if offsets[1] - offsets[0] != expected:
        raise _damaged(path, f"tensor {name!r} of shape {tuple(shape)} and dtype {entry['dtype']} needs {expected} "
                             f"bytes but its data_offsets span {offsets[1] - offsets[0]}")
    return dtype, tuple(shape), offsets[0], offsets[1]


def read_safetensors(path) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """Read every tensor of a safetensors file, checking the file first (module doc).

    Returns:
        (tensors, metadata): name -> NumPy array (BF16 converted to float32), and the
        "__metadata__" strings ({} when there are none).

    Raises:
        ValueError: a truncated or malformed file; the message names the file and the tensor.
        OSError: the file cannot be opened.
    """
    with open(path, "rb") as file:
        size = os.fstat(file.fileno()).st_size
        header, length = _header(path, file, size)
        data_start = 8 + length
        data_size = size - data_start
        metadata = header.pop(METADATA, {}) or {}
        if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
            raise _damaged(path, "its __metadata__ is not a map of strings to strings")
        extents = {name: _extent(path, name, entry, data_size) for name, entry in header.items()}
        covered = 0
        for name, (_, _, begin, end) in sorted(extents.items(), key=lambda item: item[1][2:]):
            if begin != covered:
                raise _damaged(path, f"tensor {name!r} starts at byte {begin} of the data, but the tensors before it "
                                     f"end at {covered}: the tensors overlap or leave a gap")
            covered = end
        if covered != data_size:
            raise _damaged(path, f"its tensors cover {covered} bytes of data but the file holds {data_size}")
        tensors = {}
        for name, (dtype, shape, begin, end) in extents.items():
            file.seek(data_start + begin)
            array = np.empty(shape, dtype)
            if file.readinto(array.reshape(-1).view(np.uint8)) != end - begin:
                raise _damaged(path, f"tensor {name!r} is cut short (the file changed while it was read?)")
            tensors[name] = _bfloat16_to_float32(array) if header[name]["dtype"] == "BF16" else array
    return tensors, metadata


def _bfloat16_to_float32(halves: np.ndarray) -> np.ndarray:
    """bfloat16 is the upper 16 bits of a float32."""
    return (halves.astype(np.uint32) << 16).view(np.float32)
