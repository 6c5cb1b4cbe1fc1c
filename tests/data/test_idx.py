import gzip

import numpy as np
import pytest

from volnet.data import load_idx, read_idx, write_idx


def test_header_bytes_by_hand(tmp_path):
    # 2 images of 3×4: magic 00 00 08 03, then 2, 3, 4 as big-endian uint32, then 24 values.
    images = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    write_idx(tmp_path / "images", images)
    content = (tmp_path / "images").read_bytes()
    assert content[:16] == bytes.fromhex("00000803 00000002 00000003 00000004")
    assert content[16:] == bytes(range(24))


@pytest.mark.parametrize("file", ["labels-idx1-ubyte", "labels-idx1-ubyte.gz"])
def test_round_trip_raw_and_gzip(tmp_path, file):
    labels = np.random.default_rng(0).integers(0, 10, 50, dtype=np.uint8)
    write_idx(tmp_path / file, labels)
    assert ((tmp_path / file).read_bytes()[:2] == b"\x1f\x8b") == file.endswith(".gz")
    np.testing.assert_array_equal(read_idx(tmp_path / file, ndim=1), labels)


def test_gzip_detected_by_content_not_name(tmp_path):
    # A compressed file without .gz, as some mirrors serve them.
    (tmp_path / "images").write_bytes(gzip.compress(bytes.fromhex("00000801 00000002") + b"\x05\x06"))
    assert read_idx(tmp_path / "images").tolist() == [5, 6]


def test_gzip_output_is_reproducible(tmp_path):
    # No time stamp in the gzip header: the same array gives the same bytes.
    write_idx(tmp_path / "a.gz", np.ones((2, 2), np.uint8))
    write_idx(tmp_path / "b.gz", np.ones((2, 2), np.uint8))
    assert (tmp_path / "a.gz").read_bytes() == (tmp_path / "b.gz").read_bytes()


def test_wrong_magic_says_expected_and_found(tmp_path):
    # Labels passed where images are expected.
    write_idx(tmp_path / "labels.gz", np.zeros(5, np.uint8))
    expected = r"labels.gz: wrong magic number: expected 0x00000803: unsigned bytes, images \(N, H, W\); found 0x0+801"
    with pytest.raises(ValueError, match=expected):
        read_idx(tmp_path / "labels.gz", ndim=3)


def test_not_an_idx_file(tmp_path):
    (tmp_path / "notes.txt").write_text("hello world")
    with pytest.raises(ValueError, match=r"notes.txt: wrong magic number: expected 0x000008dd.*found 0x68656C6C"):
        read_idx(tmp_path / "notes.txt")


def test_float_idx_is_refused_with_its_type_code(tmp_path):
    (tmp_path / "floats").write_bytes(bytes.fromhex("00000D01 00000001") + b"\0\0\0\0")
    with pytest.raises(ValueError, match=r"found 0x00000D01"):
        read_idx(tmp_path / "floats")


@pytest.mark.parametrize("compress", [False, True])
def test_truncated_values(tmp_path, compress):
    content = bytes.fromhex("00000803 00000002 00000002 00000002") + bytes(7)  # 8 values promised
    (tmp_path / "images").write_bytes(gzip.compress(content) if compress else content)
    with pytest.raises(ValueError, match=r"images is truncated or damaged: its header \(2 × 2 × 2\) promises 8 bytes, "
                                         r"but only 7 are present"):
        read_idx(tmp_path / "images", ndim=3)


def test_truncated_header(tmp_path):
    (tmp_path / "images").write_bytes(bytes.fromhex("00000803 00000002 0000"))
    with pytest.raises(ValueError, match=r"images: truncated header: expected 3 dimensions of 4 bytes, found 6 bytes"):
        read_idx(tmp_path / "images")


def test_trailing_bytes(tmp_path):
    (tmp_path / "labels").write_bytes(bytes.fromhex("00000801 00000002") + bytes(5))
    with pytest.raises(ValueError, match=r"labels: 3 bytes after the 2 values"):
        read_idx(tmp_path / "labels")


def test_gzip_cut_short(tmp_path):
    write_idx(tmp_path / "images.gz", np.random.default_rng(1).integers(0, 256, (20, 8, 8), dtype=np.uint8))
    content = (tmp_path / "images.gz").read_bytes()
    (tmp_path / "images.gz").write_bytes(content[: len(content) // 2])
    with pytest.raises(ValueError, match=r"images.gz: the gzip stream is damaged or cut short"):
        read_idx(tmp_path / "images.gz")


def test_load_idx_builds_a_one_channel_dataset(tmp_path):
    images = np.random.default_rng(2).integers(0, 256, (6, 5, 4), dtype=np.uint8)
    write_idx(tmp_path / "images.gz", images)
    write_idx(tmp_path / "labels.gz", np.array([0, 1, 2, 0, 1, 2], np.uint8))
    data = load_idx(tmp_path / "images.gz", tmp_path / "labels.gz")
    assert data.images.shape == (6, 1, 5, 4) and data.class_names == ["0", "1", "2"]
    np.testing.assert_array_equal(data.images[:, 0], images)


def test_load_idx_label_count_mismatch_names_both_files(tmp_path):
    write_idx(tmp_path / "train-images.gz", np.zeros((3, 2, 2), np.uint8))
    write_idx(tmp_path / "t10k-labels.gz", np.zeros(4, np.uint8))
    with pytest.raises(ValueError, match=r"train-images.gz holds 3 images but .*t10k-labels.gz holds 4 labels"):
        load_idx(tmp_path / "train-images.gz", tmp_path / "t10k-labels.gz")


def test_write_idx_refuses_non_bytes(tmp_path):
    with pytest.raises(TypeError, match=r"write_idx writes unsigned bytes; got a float64 array"):
        write_idx(tmp_path / "x", np.zeros(3))
