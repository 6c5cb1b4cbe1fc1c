import builtins
import io
import os
import pickle
import struct

import numpy as np
import pytest

from volnet.data import load_cifar10_binary, load_cifar10_python


@pytest.mark.parametrize("split", ["train", "test"])
@pytest.mark.parametrize("load", [load_cifar10_python, load_cifar10_binary])
def test_both_formats_give_the_written_images(tiny_cifar, load, split):
    # Both published formats decode to the same (N, 3, 32, 32) images and labels.
    folder = tiny_cifar.python_folder if load is load_cifar10_python else tiny_cifar.binary_folder
    data = load(folder, split)
    images, labels = tiny_cifar.splits[split]
    np.testing.assert_array_equal(data.images, images)
    np.testing.assert_array_equal(data.labels, labels)
    assert data.images.dtype == np.uint8 and data.labels.dtype == np.int64
    assert data.class_names == tiny_cifar.class_names and data.name == f"cifar10/{split}"


def test_a_row_is_the_red_then_green_then_blue_plane(tmp_path):
    # Hand-made record: red plane all 1, green all 2, blue all 3; pixel (0, 1) of red is 9.
    row = np.repeat(np.array([1, 2, 3], np.uint8), 1024)
    row[1] = 9
    (tmp_path / "test_batch.bin").write_bytes(bytes([7]) + row.tobytes())
    (tmp_path / "batches.meta.txt").write_text("\n".join(f"class{k}" for k in range(10)))
    data = load_cifar10_binary(tmp_path, "test")
    assert data.labels.tolist() == [7]
    assert [int(data.images[0, c].mean().round()) for c in range(3)] == [1, 2, 3]
    assert data.images[0, 0, 0, 1] == 9 and data.images[0, 0, 1, 0] == 1


class Python2Pickler(pickle._Pickler):
    """Writes str and bytes as Python 2's str (BINSTRING), like the cPickle that wrote CIFAR-10."""

    dispatch = pickle._Pickler.dispatch.copy()

    def save_python2_str(self, obj):
        data = obj.encode("latin-1") if isinstance(obj, str) else obj
        if len(data) < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([len(data)]) + data)
        else:
            self.write(pickle.BINSTRING + struct.pack("<i", len(data)) + data)
        self.memoize(obj)

    dispatch[str] = save_python2_str
    dispatch[bytes] = save_python2_str


def test_reads_a_batch_pickled_as_python_2_did(tiny_cifar):
    # The real files name NumPy 1's numpy.core.multiarray and hold no Python 3 bytes objects.
    images, labels = tiny_cifar.splits["test"]
    stream = io.BytesIO()
    Python2Pickler(stream, protocol=2).dump(tiny_cifar.batch_dict(images, labels, b"testing batch 1 of 1"))
    content = stream.getvalue().replace(b"numpy._core.multiarray\n", b"numpy.core.multiarray\n")
    assert b"numpy.core.multiarray\n_reconstruct" in content and b"_codecs" not in content
    (tiny_cifar.python_folder / "test_batch").write_bytes(content)
    np.testing.assert_array_equal(load_cifar10_python(tiny_cifar.python_folder, "test").images, images)


class RunsShellCommand:
    def __init__(self, command):
        self.command = command

    def __reduce__(self):
        return (os.system, (self.command,))


class Evaluates:
    def __init__(self, expression):
        self.expression = expression

    def __reduce__(self):
        return (builtins.eval, (self.expression,))


@pytest.mark.parametrize("attack", [RunsShellCommand, Evaluates])
def test_a_malicious_pickle_is_refused_and_nothing_runs(tiny_cifar, tmp_path, attack):
    # A pickle that would create a file when loaded by pickle.load is refused by name.
    marker = tmp_path / "pwned"
    payload = f"touch {marker}" if attack is RunsShellCommand else f"open({str(marker)!r}, 'w').close()"
    images, labels = tiny_cifar.splits["test"]
    batch = tiny_cifar.batch_dict(images, labels, b"testing batch 1 of 1")
    batch[b"labels"] = attack(payload)
    (tiny_cifar.python_folder / "test_batch").write_bytes(pickle.dumps(batch, protocol=2))
    # Protocol 2 writes builtins as __builtin__.
    refusal = r"test_batch: .*refused to load the global (posix|__builtin__)\.(system|eval)"
    with pytest.raises(ValueError, match=refusal):
        load_cifar10_python(tiny_cifar.python_folder, "test")
    assert not marker.exists()


def test_codecs_encode_is_allowed_only_for_latin1(tiny_cifar):
    # _codecs.encode rebuilds bytes at protocol 2; any other codec is refused.
    class Rot13:
        def __reduce__(self):
            return (__import__("codecs").encode, ("payload", "rot13"))

    (tiny_cifar.python_folder / "batches.meta").write_bytes(pickle.dumps({b"label_names": Rot13()}, protocol=2))
    with pytest.raises(ValueError, match=r"batches.meta: .*refused to run _codecs.encode with the codec 'rot13'"):
        load_cifar10_python(tiny_cifar.python_folder, "test")


def test_truncated_binary_batch_names_file_and_sizes(tiny_cifar):
    # One byte short: 2 whole records and 3072 bytes left over.
    path = tiny_cifar.binary_folder / "test_batch.bin"
    path.write_bytes(path.read_bytes()[: 3 * 3073 - 1])
    with pytest.raises(ValueError, match=r"test_batch.bin: 9218 bytes is not a whole number of 3073-byte records"):
        load_cifar10_binary(tiny_cifar.binary_folder, "test")


def test_label_beyond_class_names_names_file(tiny_cifar):
    path = tiny_cifar.binary_folder / "data_batch_2.bin"
    records = bytearray(path.read_bytes())
    records[0] = 10
    path.write_bytes(bytes(records))
    with pytest.raises(ValueError, match=r"data_batch_2.bin: labels run from \d+ to 10, but there are 10 class names"):
        load_cifar10_binary(tiny_cifar.binary_folder, "train")


def test_python_batch_with_fewer_labels_than_images(tiny_cifar):
    images, labels = tiny_cifar.splits["test"]
    batch = tiny_cifar.batch_dict(images, labels[:-1], b"testing batch 1 of 1")
    (tiny_cifar.python_folder / "test_batch").write_bytes(pickle.dumps(batch, protocol=2))
    with pytest.raises(ValueError, match=r"test_batch: b'labels' must be a list of 4 integers, one per image; "
                                         r"found a list of 3"):
        load_cifar10_python(tiny_cifar.python_folder, "test")


def test_truncated_pickle_and_wrong_content_name_the_file(tiny_cifar):
    path = tiny_cifar.python_folder / "test_batch"
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(ValueError, match=r"test_batch is truncated or damaged: expected \d+ bytes in a \w+, but only "
                                         r"\d+ remain"):
        load_cifar10_python(tiny_cifar.python_folder, "test")
    path.write_bytes(pickle.dumps([1, 2, 3], protocol=2))
    with pytest.raises(ValueError, match=r"test_batch: expected a dict with the key b'data', found a list"):
        load_cifar10_python(tiny_cifar.python_folder, "test")


def test_missing_meta_and_unknown_split(tiny_cifar):
    (tiny_cifar.python_folder / "batches.meta").unlink()
    with pytest.raises(FileNotFoundError, match="batches.meta"):
        load_cifar10_python(tiny_cifar.python_folder, "test")
    with pytest.raises(ValueError, match=r"splits 'train' and 'test', got split='validation'"):
        load_cifar10_binary(tiny_cifar.binary_folder, "validation")
