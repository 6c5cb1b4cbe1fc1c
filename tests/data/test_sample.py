import numpy as np
import pytest

from volnet.data import FASHION_MNIST_CLASSES, load_dataset
from volnet.data.make_sample import first_per_class, make_sample
from volnet.data.sources import DEBIAN_FASHION_MNIST_DIR, SAMPLE_DIR

debian = pytest.mark.skipif(
    not DEBIAN_FASHION_MNIST_DIR.is_dir(), reason=f"needs Debian's dataset-fashion-mnist in {DEBIAN_FASHION_MNIST_DIR}"
)


@pytest.mark.parametrize("split, per_class", [("train", 1000), ("test", 200)])
def test_sample_loads_offline_and_is_balanced(split, per_class):
    data = load_dataset("sample", split)
    assert data.images.shape == (10 * per_class, 1, 28, 28) and data.images.dtype == np.uint8
    assert np.bincount(data.labels, minlength=10).tolist() == [per_class] * 10
    assert data.class_names == list(FASHION_MNIST_CLASSES) and data.name == f"sample/{split}"
    assert 0.2 < data.images.mean() / 255 < 0.4  # Fashion-MNIST's mean pixel is 0.286


def test_sample_ships_its_licence_and_readme():
    licence = (SAMPLE_DIR / "LICENSE").read_text()
    assert "Copyright © 2017 Zalando SE" in licence and "Permission is hereby granted, free of charge" in licence
    assert "python -m volnet.data.make_sample" in (SAMPLE_DIR / "README.md").read_text()


def test_first_per_class_keeps_file_order():
    labels = np.array([2, 0, 2, 1, 0, 2, 1, 0])
    assert first_per_class(labels, 2).tolist() == [0, 1, 2, 3, 4, 6]
    with pytest.raises(ValueError, match=r"class 1 has only 2 examples; 3 are needed"):
        first_per_class(labels, 3)


@pytest.mark.slow  # about 3 s, compressing 10,000 images
@debian
def test_sample_equals_a_rebuild_from_the_debian_files(tmp_path):
    make_sample(destination=tmp_path)
    for split in ("train", "test"):
        rebuilt, shipped = load_dataset("fashion-mnist", split, data_dir=tmp_path), load_dataset("sample", split)
        np.testing.assert_array_equal(rebuilt.images, shipped.images)
        np.testing.assert_array_equal(rebuilt.labels, shipped.labels)


@debian
def test_full_fashion_mnist_loads(monkeypatch, tmp_path):
    # Found in the Debian folder when nothing else is configured.
    monkeypatch.delenv("VOLNET_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    train, test = load_dataset("fashion-mnist", "train"), load_dataset("fashion-mnist", "test")
    assert train.images.shape == (60000, 1, 28, 28) and test.images.shape == (10000, 1, 28, 28)
    assert np.bincount(train.labels).tolist() == [6000] * 10 and np.bincount(test.labels).tolist() == [1000] * 10
