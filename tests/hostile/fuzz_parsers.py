# Property-based fuzzing of volnet's parsers of untrusted input (issue 18): random bytes and
# mutated valid files or strings must give a result or one of volnet's documented errors
# (ValueError, with BudgetError among them), never another exception. Not collected by itself:
# test_fuzz.py runs this file in a child process under a memory cap and a time limit.

import gzip
import io
import pickle
import tempfile
import zipfile
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from volnet.data.cifar10 import load_cifar10_binary, load_cifar10_python
from volnet.data.idx import read_idx, write_idx
from volnet.models import build_model, load_model, save_model

EXAMPLES = 250
FUZZ = settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
                suppress_health_check=list(HealthCheck))
FOLDER = Path(tempfile.mkdtemp(prefix="volnet-fuzz-"))


def mutated(valid: bytes):
    """Strategies for files near a valid one: bytes flipped, set to extremes, cut short or spliced."""
    positions = st.integers(0, max(0, len(valid) - 1))
    flips = st.lists(st.tuples(positions, st.sampled_from([0x00, 0xFF, 0x7F, 0x80, 0x01])), min_size=1, max_size=6)

    def flip(changes):
        content = bytearray(valid)
        for position, value in changes:
            content[position] = value
        return bytes(content)

    return st.one_of(
        flips.map(flip),
        positions.map(lambda cut: valid[:cut]),
        st.tuples(positions, st.binary(max_size=16)).map(lambda cut: valid[:cut[0]] + cut[1] + valid[cut[0]:]),
        st.binary(max_size=300),
    )


def outcome(function, *arguments):
    """Run a parser; a ValueError (volnet's documented refusal) is as good as a result."""
    try:
        return function(*arguments)
    except ValueError as error:
        assert str(error), "a refusal says why"
        return error


def idx_file(images: bool, compressed: bool) -> bytes:
    array = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4) if images else np.arange(5, dtype=np.uint8)
    path = FOLDER / f"valid.idx{'.gz' if compressed else ''}"
    write_idx(path, array)
    return path.read_bytes()


@FUZZ
@given(st.one_of(mutated(idx_file(True, False)), mutated(idx_file(False, False)),
                 mutated(idx_file(True, True)).map(lambda content: content)))
def test_idx_reader(content):
    (FOLDER / "fuzz.idx").write_bytes(content)
    result = outcome(read_idx, FOLDER / "fuzz.idx")
    assert isinstance(result, (np.ndarray, ValueError))


@FUZZ
@given(mutated(gzip.compress(idx_file(True, False), mtime=0)).map(gzip.compress))
def test_idx_reader_of_gzip_streams_holding_damaged_files(content):
    (FOLDER / "fuzz.idx.gz").write_bytes(content)
    assert isinstance(outcome(read_idx, FOLDER / "fuzz.idx.gz"), (np.ndarray, ValueError))


def cifar_batch() -> bytes:
    pixels = np.arange(2 * 3072, dtype=np.uint8).reshape(2, 3072) % 251
    return pickle.dumps({b"data": pixels, b"labels": [0, 1], b"batch_label": b"t", b"filenames": [b"a", b"b"]},
                        protocol=2)


@FUZZ
@given(mutated(cifar_batch()))
def test_cifar_python_reader(content):
    folder = FOLDER / "py"
    folder.mkdir(exist_ok=True)
    (folder / "test_batch").write_bytes(content)
    (folder / "batches.meta").write_bytes(pickle.dumps({b"label_names": [b"cat", b"dog"]}, protocol=2))
    result = outcome(load_cifar10_python, folder, "test")
    assert not isinstance(result, ValueError) or "test_batch" in str(result)


@FUZZ
@given(mutated(bytes([1]) + bytes(range(256)) * 12), st.binary(max_size=40))
def test_cifar_binary_reader(content, meta):
    folder = FOLDER / "bin"
    folder.mkdir(exist_ok=True)
    (folder / "test_batch.bin").write_bytes(content)
    (folder / "batches.meta.txt").write_bytes(meta)
    outcome(load_cifar10_binary, folder, "test")


def model_file() -> bytes:
    model = build_model("conv3-2 bn relu pool fc3", input_shape=(1, 4, 4))
    save_model(FOLDER / "valid.npz", model, {"note": [1, {"a": None}]}, class_names=["a", "b", "c"])
    return (FOLDER / "valid.npz").read_bytes()


@FUZZ
@given(mutated(model_file()))
def test_model_reader(content):
    (FOLDER / "fuzz.npz").write_bytes(content)
    result = outcome(load_model, FOLDER / "fuzz.npz")
    assert isinstance(result, (tuple, ValueError))


def npz_of(entries: dict) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, content in entries.items():
            archive.writestr(name, content)
    return buffer.getvalue()


@FUZZ
@given(st.dictionaries(st.sampled_from(["__volnet__.json.npy", "0.weight.npy", "x.npy", "y"]),
                       st.one_of(st.binary(max_size=200), mutated(np.lib.format.header_data_from_array_1_0(
                           np.zeros(3)).__repr__().encode())), max_size=3))
def test_model_reader_of_made_up_archives(entries):
    (FOLDER / "made.npz").write_bytes(npz_of(entries))
    assert isinstance(outcome(load_model, FOLDER / "made.npz"), (tuple, ValueError))


WORDS = ["conv3-8", "conv1-4/s2", "conv3-2/d2/p0", "conv3-4/g2", "pool", "pool3/s2", "avgpool", "gap", "fc10",
         "fc0", "flatten", "relu", "lrelu0.1", "bn", "dropout0.5", "tanh", "[", "]", "res[", "*2", "*0", "*10000",
         "*99999999", "conv99999-3", "fc999999999999", "conv3-0", "->", "x", "/", "9", "conv", "-", "."]


@FUZZ
@given(st.one_of(st.lists(st.sampled_from(WORDS), max_size=14).map(" ".join),
                 st.lists(st.sampled_from(WORDS), max_size=14).map("".join),
                 st.text(alphabet="[]*res0123456789convfcpool-/ ", max_size=60)),
       st.sampled_from([(1, 8, 8), (3, 5, 7), (2, 1, 1), (16,)]))
def test_architecture_strings(text, shape):
    result = outcome(build_model, text, shape)
    if not isinstance(result, ValueError):
        assert result.built
