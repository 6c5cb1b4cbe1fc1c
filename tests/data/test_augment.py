import numpy as np
import pytest

from volnet.data import Augmentation, flip_horizontal, random_crop, random_flip, translate


def random_images(shape=(5, 2, 6, 7), seed=0):
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


def translate_reference(images, shifts):
    # out[n, c, i, j] = images[n, c, i − dy, j − dx], zero outside: plain loops.
    out = np.zeros_like(images)
    count, _, height, width = images.shape
    for n in range(count):
        dy, dx = shifts[n]
        for i in range(height):
            for j in range(width):
                if 0 <= i - dy < height and 0 <= j - dx < width:
                    out[n, :, i, j] = images[n, :, i - dy, j - dx]
    return out


def test_translate_by_hand():
    # A 3×3 image moved one down and one left: the top row and right column become 0.
    image = np.arange(1, 10, dtype=np.uint8).reshape(1, 1, 3, 3)
    moved = translate(image, [[1, -1]])
    assert moved[0, 0].tolist() == [[0, 0, 0], [2, 3, 0], [5, 6, 0]]


@pytest.mark.parametrize("shape", [(1, 1, 1, 1), (4, 3, 5, 5), (3, 1, 4, 7)])
def test_translate_matches_loops(shape):
    # Vectorised gather against the loops, shifts up to beyond the image size.
    rng = np.random.default_rng(1)
    images = random_images(shape)
    shifts = rng.integers(-8, 9, size=(shape[0], 2))
    np.testing.assert_array_equal(translate(images, shifts), translate_reference(images, shifts))


def test_flip_twice_is_identity_and_flip_by_hand():
    images = random_images()
    np.testing.assert_array_equal(flip_horizontal(flip_horizontal(images)), images)
    row = np.array([[[[1, 2, 3]]]], np.uint8)
    assert flip_horizontal(row).tolist() == [[[[3, 2, 1]]]]


def test_random_flip_probability_zero_and_one():
    images = random_images()
    rng = np.random.default_rng(2)
    np.testing.assert_array_equal(random_flip(images, rng, probability=0.0), images)
    np.testing.assert_array_equal(random_flip(images, rng, probability=1.0), images[..., ::-1])


def test_random_flip_flips_whole_images_only():
    images = random_images((200, 1, 3, 4))
    flipped = random_flip(images, np.random.default_rng(3))
    was_flipped = np.all(flipped == images[..., ::-1], axis=(1, 2, 3)) & ~np.all(flipped == images, axis=(1, 2, 3))
    kept = np.all(flipped == images, axis=(1, 2, 3))
    assert np.all(was_flipped | kept) and 60 < was_flipped.sum() < 140


def test_random_crop_is_a_translation_within_padding():
    # Same generator state: random_crop draws (dy, dx) in [−P, P] and translates by them.
    images = random_images()
    shifts = np.random.default_rng(5).integers(-2, 3, size=(5, 2))
    np.testing.assert_array_equal(random_crop(images, np.random.default_rng(5), 2), translate(images, shifts))


@pytest.mark.parametrize("augmentation", [Augmentation(), Augmentation(padding=2), Augmentation(padding=4, flip=True)])
def test_augmentation_keeps_shape_and_dtype_and_is_seeded(augmentation):
    images = random_images()
    first = augmentation(images, np.random.default_rng(6))
    assert first.shape == images.shape and first.dtype == images.dtype
    np.testing.assert_array_equal(first, augmentation(images, np.random.default_rng(6)))


def test_errors():
    with pytest.raises(ValueError, match=r"padding must be a whole number of pixels ≥ 0, got -1"):
        Augmentation(padding=-1)
    with pytest.raises(ValueError, match=r"padding must be a whole number of pixels ≥ 0, got 1.5"):
        random_crop(random_images(), np.random.default_rng(0), 1.5)
    with pytest.raises(ValueError, match=r"one integer \(dy, dx\) per image: shifts of shape \(5, 2\), got \(2,\)"):
        translate(random_images(), [1, 2])
