# The container under model files and checkpoints: named arrays and a JSON object, written
# atomically, read back exactly; what it refuses to write. (What it refuses to read, truncated,
# flipped, edited or pickled, is tested through load_model in tests/models/test_serialize.py.)
import os

import numpy as np
import pytest

from volnet.npz import read_npz_checked, write_npz_atomic


def test_write_and_read_arrays_with_json(tmp_path):
    path = tmp_path / "checkpoint.npz"
    arrays = {"model.0.weight": np.arange(6, dtype=np.float32).reshape(2, 3), "rng": np.array([1, 2], np.uint64),
              "file": np.zeros(1), "allow_pickle": np.ones(1, bool)}
    meta = {"step": 1200, "history": [0.5, 0.25], "nested": {"lr": 1e-3}, "count": np.int64(4)}
    write_npz_atomic(path, arrays, meta, kind="checkpoint")
    read, read_meta = read_npz_checked(path, kind="checkpoint")
    assert list(read) == list(arrays)
    assert all(np.array_equal(read[name], arrays[name]) and read[name].dtype == arrays[name].dtype for name in arrays)
    assert read_meta == {**meta, "count": 4}


def test_writing_is_atomic(tmp_path, monkeypatch):
    path = tmp_path / "checkpoint.npz"
    write_npz_atomic(path, {"a": np.ones(2)}, {"version": "old"}, kind="checkpoint")
    before = path.read_bytes()

    def crash(descriptor):
        raise OSError("disk full")

    monkeypatch.setattr(os, "fsync", crash)
    with pytest.raises(OSError, match="disk full"):
        write_npz_atomic(path, {"a": np.zeros(2)}, {"version": "new"}, kind="checkpoint")
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["checkpoint.npz"]  # no temporary file left behind
    monkeypatch.undo()
    write_npz_atomic(path, {"a": np.zeros(2)}, {"version": "new"}, kind="checkpoint")
    assert read_npz_checked(path)[1] == {"version": "new"}
    assert os.listdir(tmp_path) == ["checkpoint.npz"]


def test_write_errors(tmp_path):
    with pytest.raises(TypeError, match=r"array 'names' has dtype object; volnet files hold numeric arrays only"):
        write_npz_atomic(tmp_path / "x.npz", {"names": np.array(["a", None])}, {}, kind="checkpoint")
    with pytest.raises(TypeError, match=r"array 'labels' has dtype <U1"):
        write_npz_atomic(tmp_path / "x.npz", {"labels": np.array(["a"])}, {}, kind="checkpoint")
    with pytest.raises(ValueError, match=r"reserved"):
        write_npz_atomic(tmp_path / "x.npz", {"__volnet__.json": np.ones(1)}, {}, kind="checkpoint")
    with pytest.raises(TypeError, match=r"set is not JSON-serialisable"):
        write_npz_atomic(tmp_path / "x.npz", {}, {"classes": {1, 2}}, kind="checkpoint")
    assert os.listdir(tmp_path) == []
