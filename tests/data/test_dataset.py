import numpy as np
import pytest

from volnet.data import Dataset


def make_dataset(count=10, classes=3, seed=0):
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, (count, 2, 4, 5), dtype=np.uint8)
    return Dataset(images, np.arange(count) % classes, [f"class {k}" for k in range(classes)], "toy")


def test_holds_uint8_images_and_int64_labels():
    data = make_dataset()
    assert len(data) == 10 and data.image_shape == (2, 4, 5)
    assert data.images.dtype == np.uint8 and data.labels.dtype == np.int64
    assert repr(data) == "Dataset('toy': 10 images of 5×4×2, 3 classes)"


def test_split_without_rng_gives_views_of_the_tail():
    data = make_dataset()
    train, validation = data.split(0.3)
    assert (len(train), len(validation)) == (7, 3)
    assert np.shares_memory(train.images, data.images) and np.shares_memory(validation.images, data.images)
    np.testing.assert_array_equal(validation.labels, data.labels[7:])


def test_random_split_partitions_the_examples():
    # Seeded: every example lands in exactly one part, in its original order.
    data = make_dataset(count=50)
    data.labels[:] = np.arange(50) % 3
    data.images[:, 0, 0, 0] = np.arange(50)  # an id per example
    train, validation = data.split(0.2, np.random.default_rng(3))
    ids = np.concatenate([train.images[:, 0, 0, 0], validation.images[:, 0, 0, 0]])
    assert sorted(ids.tolist()) == list(range(50)) and len(validation) == 10
    assert np.all(np.diff(train.images[:, 0, 0, 0].astype(int)) > 0)
    again = data.split(0.2, np.random.default_rng(3))[1]
    np.testing.assert_array_equal(again.images, validation.images)


def test_subset_by_positions_and_by_slice():
    data = make_dataset()
    picked = data.subset([4, 1])
    np.testing.assert_array_equal(picked.images, data.images[[4, 1]])
    assert picked.labels.tolist() == [1, 1] and picked.class_names == data.class_names
    assert np.shares_memory(data.subset(slice(2, 5)).images, data.images)


def test_errors_say_what_was_given():
    images = np.zeros((3, 1, 2, 2), np.uint8)
    with pytest.raises(ValueError, match=r"no images \(N = 0\)"):
        Dataset(images[:0], [], ["a"])
    with pytest.raises(ValueError, match=r"3 images need 3 labels \(shape \(3,\)\), got labels of shape \(2,\)"):
        Dataset(images, [0, 1], ["a", "b"])
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 2\) for 2 class names, got labels from 0 to 2"):
        Dataset(images, [0, 1, 2], ["a", "b"])
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 2\).*from -1 to 1"):
        Dataset(images, [0, 1, -1], ["a", "b"])
    with pytest.raises(ValueError, match=r"images must be \(N, D, H, W\).*\(3, 2, 2\)\. Add the depth axis"):
        Dataset(images[:, 0], [0, 1, 0], ["a", "b"])
    with pytest.raises(TypeError, match=r"images must be uint8 \(0..255\), got float32"):
        Dataset(images.astype(np.float32), [0, 1, 0], ["a", "b"])
    with pytest.raises(TypeError, match=r"labels must be integer class indices, got float64"):
        Dataset(images, [0.0, 1.0, 0.0], ["a", "b"])


def test_split_and_subset_errors():
    data = make_dataset()
    with pytest.raises(ValueError, match=r"0.01 of 10 examples holds out 0; choose a fraction between 0.1 and 0.9"):
        data.split(0.01)
    with pytest.raises(ValueError, match=r"subset positions must lie in \[0, 10\), got positions from 3 to 10"):
        data.subset([3, 10])


def test_in_class_order_renumbers_labels_by_name():
    # an image folder's classes come sorted by name; a model's in the order it was trained on
    folder = Dataset(np.zeros((3, 1, 2, 2), np.uint8), [0, 1, 2], ["boot", "coat", "shirt"], "folder")
    ordered = folder.in_class_order(["shirt", "boot", "coat"])
    assert ordered.class_names == ["shirt", "boot", "coat"]
    assert [ordered.class_names[label] for label in ordered.labels] == ["boot", "coat", "shirt"]
    assert ordered.images is folder.images and folder.in_class_order(folder.class_names) is folder


def test_in_class_order_refuses_other_classes():
    folder = Dataset(np.zeros((2, 1, 2, 2), np.uint8), [0, 1], ["cat", "dog"], "pets")
    with pytest.raises(ValueError, match="pets has other classes than the model: the model knows 'owl' that pets "
                                         "lacks, and pets has 'dog' that the model lacks"):
        folder.in_class_order(["cat", "owl"])
