"""volnet's own safetensors reader and writer: agreement with the safetensors package both ways, and
damaged files refused with the file and the tensor named, before memory is spent on them."""

from __future__ import annotations

import json
import struct

import numpy as np
import pytest

from volnet.interop.safetensors_file import MAX_HEADER, read_safetensors, write_safetensors

safetensors_numpy = pytest.importorskip("safetensors.numpy")

ARRAYS = {
    "conv.weight": np.arange(24, dtype=np.float32).reshape(2, 3, 2, 2),
    "bn.num_batches_tracked": np.array(7, dtype=np.int64),
    "half": np.linspace(-1, 1, 5).astype(np.float16),
    "double": np.asfortranarray(np.arange(6.0).reshape(2, 3)),  # written C-ordered all the same
    "empty": np.zeros((0, 3), np.float32),
    "mask": np.array([True, False, True]),
    "bytes": np.arange(4, dtype=np.uint8),
}


def test_the_package_reads_what_volnet_writes(tmp_path):
    path = tmp_path / "a.safetensors"
    write_safetensors(path, ARRAYS, {"note": "hello"})
    loaded = safetensors_numpy.load_file(str(path))
    assert loaded.keys() == ARRAYS.keys()
    for name, array in ARRAYS.items():
        assert loaded[name].dtype == array.dtype and loaded[name].shape == array.shape, name
        np.testing.assert_array_equal(loaded[name], array)
    header_length = struct.unpack("<Q", path.read_bytes()[:8])[0]
    assert header_length % 8 == 0


def test_volnet_reads_what_the_package_writes(tmp_path):
    path = tmp_path / "b.safetensors"
    safetensors_numpy.save_file({name: np.ascontiguousarray(a) for name, a in ARRAYS.items()}, str(path),
                                metadata={"format": "pt"})
    tensors, metadata = read_safetensors(path)
    assert metadata == {"format": "pt"}
    for name, array in ARRAYS.items():
        assert tensors[name].dtype == array.dtype, name
        np.testing.assert_array_equal(tensors[name], array)


def test_bfloat16_is_read_as_float32(tmp_path):
    torch = pytest.importorskip("torch")
    import safetensors.torch

    values = torch.tensor([1.5, -2.25, 3e-3, 1e20], dtype=torch.bfloat16)
    safetensors.torch.save_file({"w": values}, str(tmp_path / "c.safetensors"))
    tensors, _ = read_safetensors(tmp_path / "c.safetensors")
    np.testing.assert_array_equal(tensors["w"], values.float().numpy())


def write_raw(path, header, data: bytes = b"", length=None):
    # a file with this header (a dict, or raw bytes) and data, its length field possibly lying
    text = header if isinstance(header, bytes) else json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(text) if length is None else length) + text + data)
    return path


def test_a_header_claiming_more_bytes_than_the_file_holds_is_refused_unread(tmp_path):
    path = write_raw(tmp_path / "d.safetensors", {"x": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}},
                     b"\0" * 4, length=2**62)
    with pytest.raises(ValueError, match=rf"{path} is not a valid safetensors file: its header claims "
                                         rf"{2**62} bytes but the file holds only"):
        read_safetensors(path)


def test_a_header_over_the_limit_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr("volnet.interop.safetensors_file.MAX_HEADER", 16)
    path = write_raw(tmp_path / "e.safetensors", {"x": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}},
                     b"\0" * 4)
    with pytest.raises(ValueError, match=r"more than the 16 volnet reads"):
        read_safetensors(path)
    assert MAX_HEADER == 100 * 2**20


@pytest.mark.parametrize("header, data, message", [
    ({"w": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}}, b"\0" * 8,
     r"tensor 'w' has data_offsets \[0, 16\], outside the 8 bytes"),
    ({"w": {"dtype": "F32", "shape": [3], "data_offsets": [0, 16]}}, b"\0" * 16,
     r"tensor 'w' of shape \(3,\) and dtype F32 needs 12 bytes but its data_offsets span 16"),
    ({"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
      "v": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}}, b"\0" * 12,
     r"tensor 'v' starts at byte 4 .* overlap or leave a gap"),
    ({"w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}, b"\0" * 8,
     r"its tensors cover 4 bytes of data but the file holds 8"),
    ({"w": {"dtype": "C64", "shape": [1], "data_offsets": [0, 8]}}, b"\0" * 8, r"tensor 'w' has dtype 'C64'"),
    ({"w": {"dtype": "F32", "shape": [-1], "data_offsets": [0, 4]}}, b"\0" * 4, r"tensor 'w' has shape \[-1\]"),
    ({"__metadata__": {"n": 1}}, b"", r"its __metadata__ is not a map of strings"),
    (b"{not json", b"", r"its header is not JSON"),
    (b"[1, 2]", b"", r"its header is not a JSON object"),
])
def test_malformed_files_are_refused_naming_the_file_and_tensor(tmp_path, header, data, message):
    path = write_raw(tmp_path / "f.safetensors", header, data)
    with pytest.raises(ValueError, match=rf"^{path} is not a valid safetensors file: {message}"):
        read_safetensors(path)


@pytest.mark.parametrize("keep", [0, 5, 8, 40, -3])
def test_truncated_files_are_refused(tmp_path, keep):
    path = tmp_path / "g.safetensors"
    write_safetensors(path, ARRAYS)
    whole = path.read_bytes()
    path.write_bytes(whole[:keep] if keep >= 0 else whole[:keep])
    with pytest.raises(ValueError, match=rf"^{path} is not a valid safetensors file"):
        read_safetensors(path)


def test_arrays_safetensors_cannot_hold_are_refused(tmp_path):
    with pytest.raises(TypeError, match=r"tensor 'z' has dtype complex128"):
        write_safetensors(tmp_path / "h.safetensors", {"z": np.zeros(2, complex)})
    assert not (tmp_path / "h.safetensors").exists()


def test_a_header_nested_too_deeply_is_refused_as_damaged(tmp_path):
    # json would recurse without bound; the header goes through volnet.limits.load_json like every JSON volnet reads
    path = write_raw(tmp_path / "deep.safetensors", b"[" * 50_000 + b"]" * 50_000)
    with pytest.raises(ValueError, match=r"deep.safetensors.*its header is not JSON .*MAX_JSON_DEPTH"):
        read_safetensors(path)
