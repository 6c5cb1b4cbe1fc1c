import dataclasses
import hashlib
import io
import os
import tarfile

import numpy as np
import pytest
from PIL import Image

from volnet.data import load_dataset, search_folders, sources, write_idx
from volnet.data.download import download


@pytest.fixture
def cache(tmp_path, monkeypatch):
    # No $VOLNET_DATA, and a cache of our own: the test sees only the files it writes.
    monkeypatch.delenv("VOLNET_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return tmp_path / "cache" / "volnet"


def write_mnist(folder, count=4, seed=0, suffix=".gz"):
    # Both splits, MNIST file names; returns the training images.
    rng = np.random.default_rng(seed)
    images = None
    for split in ("train", "test"):
        images_file, labels_file = sources.mnist_files(split)
        split_images = rng.integers(0, 256, (count, 28, 28), dtype=np.uint8)
        folder.mkdir(parents=True, exist_ok=True)
        write_idx(folder / images_file.replace(".gz", suffix), split_images)
        write_idx(folder / labels_file.replace(".gz", suffix), rng.integers(0, 10, count, dtype=np.uint8))
        images = split_images if images is None else images
    return images


def serve(monkeypatch, name, folder, md5=None):
    # Point a dataset's downloads at file:// URLs of the files in `folder`.
    files = sorted(path for path in folder.iterdir() if path.is_file())
    downloads = tuple((path.as_uri(), md5 or hashlib.md5(path.read_bytes()).hexdigest()) for path in files)
    monkeypatch.setitem(sources.SOURCES, name, dataclasses.replace(sources.SOURCES[name], downloads=downloads))


def test_search_order(cache, tmp_path, monkeypatch):
    monkeypatch.setenv("VOLNET_DATA", str(tmp_path / "shared"))
    assert search_folders("fashion-mnist", tmp_path / "mine") == [
        tmp_path / "mine", tmp_path / "shared" / "fashion-mnist", cache / "fashion-mnist",
        sources.DEBIAN_FASHION_MNIST_DIR,
    ]
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert search_folders("mnist") == [tmp_path / "shared" / "mnist", tmp_path / "home" / ".cache" / "volnet" / "mnist"]


def test_earlier_folder_wins(cache, tmp_path, monkeypatch):
    in_cache = write_mnist(cache / "mnist", seed=1)
    np.testing.assert_array_equal(load_dataset("mnist").images[:, 0], in_cache)
    monkeypatch.setenv("VOLNET_DATA", str(tmp_path / "shared"))
    shared = write_mnist(tmp_path / "shared" / "mnist", seed=2)
    np.testing.assert_array_equal(load_dataset("mnist").images[:, 0], shared)
    mine = write_mnist(tmp_path / "mine", seed=3, suffix="")  # unpacked files count too
    data = load_dataset("mnist", "train", data_dir=tmp_path / "mine")
    np.testing.assert_array_equal(data.images[:, 0], mine)
    assert data.name == "mnist/train" and data.class_names == [str(k) for k in range(10)]


def test_missing_files_say_which_files_go_where(cache):
    with pytest.raises(FileNotFoundError) as error:
        load_dataset("mnist", "test")
    message = str(error.value)
    assert f"looked in\n  {cache / 'mnist'}\n" in message
    assert "t10k-images-idx3-ubyte.gz\n  t10k-labels-idx1-ubyte.gz" in message
    assert "download=True" in message and "--download" in message
    assert f"from https://ossci-datasets.s3.amazonaws.com/mnist/ and put them in {cache / 'mnist'}" in message


def test_missing_fashion_mnist_mentions_the_debian_package(cache, tmp_path, monkeypatch):
    absent = dataclasses.replace(sources.SOURCES["fashion-mnist"], system_folders=(tmp_path / "not-installed",))
    monkeypatch.setitem(sources.SOURCES, "fashion-mnist", absent)
    with pytest.raises(FileNotFoundError, match=r"(?s)not-installed.*sudo apt-get install dataset-fashion-mnist"):
        load_dataset("fashion-mnist")


def test_download_from_a_file_url(cache, tmp_path, monkeypatch):
    # download=True fetches into the cache, checks MD5s, leaves no partial files.
    images = write_mnist(tmp_path / "server")
    serve(monkeypatch, "mnist", tmp_path / "server")
    data = load_dataset("mnist", download=True)
    np.testing.assert_array_equal(data.images[:, 0], images)
    assert sorted(path.name for path in (cache / "mnist").iterdir()) == sorted(
        [*sources.mnist_files("train"), *sources.mnist_files("test")]
    )
    assert len(load_dataset("mnist", "test")) == 4  # now found without downloading
    umask = os.umask(0)
    os.umask(umask)
    for path in (cache / "mnist").iterdir():  # readable like any file open() makes, not 0600
        assert path.stat().st_mode & 0o777 == 0o666 & ~umask


def test_checksum_mismatch_is_reported_and_the_file_removed(cache, tmp_path, monkeypatch):
    write_mnist(tmp_path / "server")
    serve(monkeypatch, "mnist", tmp_path / "server", md5="0" * 32)
    with pytest.raises(ValueError, match=r"t10k-images-idx3-ubyte.gz: checksum mismatch: expected MD5 0{32}, got \w"):
        load_dataset("mnist", download=True)
    assert list((cache / "mnist").iterdir()) == []


def test_download_writes_atomically(tmp_path):
    # The destination appears only complete; a failed download leaves nothing behind.
    (tmp_path / "source.bin").write_bytes(b"payload")
    md5 = hashlib.md5(b"payload").hexdigest()
    assert download((tmp_path / "source.bin").as_uri(), tmp_path / "out" / "file.bin", md5).read_bytes() == b"payload"
    with pytest.raises(ValueError, match="checksum mismatch"):
        download((tmp_path / "source.bin").as_uri(), tmp_path / "out" / "other.bin", "f" * 32)
    assert sorted(path.name for path in (tmp_path / "out").iterdir()) == ["file.bin"]


def test_offline_download_explains_what_to_do(cache, tmp_path, monkeypatch):
    nowhere = ((tmp_path / "nothing.gz").as_uri(), "0" * 32)
    unreachable = dataclasses.replace(sources.SOURCES["mnist"], downloads=(nowhere,))
    monkeypatch.setitem(sources.SOURCES, "mnist", unreachable)
    with pytest.raises(ConnectionError, match=r"(?s)could not download file://.*nothing.gz.*MNIST \(train split\)"):
        load_dataset("mnist", download=True)


def make_tarball(path, members):
    # members: {name in the archive: bytes}
    with tarfile.open(path, "w:gz") as tar:
        for name, content in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            tar.addfile(info, io.BytesIO(content))


def test_cifar10_archive_is_downloaded_and_unpacked(cache, tmp_path, monkeypatch, tiny_cifar):
    (tmp_path / "server").mkdir()
    make_tarball(
        tmp_path / "server" / "cifar-10-python.tar.gz",
        {f"cifar-10-batches-py/{path.name}": path.read_bytes() for path in tiny_cifar.python_folder.iterdir()},
    )
    serve(monkeypatch, "cifar10", tmp_path / "server")
    data = load_dataset("cifar10", "test", download=True)
    np.testing.assert_array_equal(data.images, tiny_cifar.splits["test"][0])
    assert (cache / "cifar10" / "cifar-10-batches-py" / "data_batch_5").is_file()


def test_cifar10_python_version_preferred_then_binary(tiny_cifar, cache):
    # Both versions present: the class names show which one was read.
    (tiny_cifar.binary_folder / "batches.meta.txt").write_text("\n".join(f"binary {k}" for k in range(10)))
    data_dir = tiny_cifar.python_folder.parent
    assert load_dataset("cifar10", data_dir=data_dir).class_names == tiny_cifar.class_names
    (tiny_cifar.python_folder / "batches.meta").unlink()
    data = load_dataset("cifar10", data_dir=data_dir)
    assert data.class_names[0] == "binary 0" and data.images.shape == (15, 3, 32, 32)
    np.testing.assert_array_equal(data.labels, tiny_cifar.splits["train"][1])


def test_archive_paths_outside_the_folder_are_refused(tmp_path, cache):
    (cache / "cifar10").mkdir(parents=True)
    make_tarball(cache / "cifar10" / "cifar-10-python.tar.gz", {"../escaped": b"x"})
    with pytest.raises(ValueError, match=r"refusing to extract '../escaped', which lies outside"):
        load_dataset("cifar10")
    assert not (cache / "escaped").exists()


def test_image_folder_by_path(tmp_path, cache):
    for split, count in (("train", 3), ("test", 2)):
        for k in range(count):
            path = tmp_path / "shapes" / split / ("circle" if k % 2 else "square") / f"{k}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(np.full((5, 5), 40 * k, np.uint8)).save(path)
    train, test = load_dataset(str(tmp_path / "shapes")), load_dataset(str(tmp_path / "shapes"), "test")
    assert (len(train), len(test), train.class_names, test.name) == (3, 2, ["circle", "square"], "shapes/test")
    with pytest.raises(ValueError, match=r"has no train/ and test/ sub-folders, so it holds one split only"):
        load_dataset(str(tmp_path / "shapes" / "train"), "test")


def test_unknown_name_and_split():
    with pytest.raises(ValueError, match=r"unknown dataset 'imagenet': expected one of 'mnist', 'fashion-mnist'"):
        load_dataset("imagenet")
    with pytest.raises(ValueError, match=r"split must be 'train' or 'test', got 'valid'"):
        load_dataset("sample", "valid")
