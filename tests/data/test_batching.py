import json

import numpy as np
import pytest

from volnet.data import Augmentation, Dataset, Normalization, channel_stats, iterate_batches


def make_dataset(count=23, channels=3, seed=0):
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, (count, channels, 4, 4), dtype=np.uint8)
    images[:, 0, 0, 0] = np.arange(count)  # an id per example, untouched by the flips below
    return Dataset(images, rng.integers(0, 5, count), list("abcde"), "toy")


@pytest.mark.parametrize("batch_size", [1, 5, 23, 64])
@pytest.mark.parametrize("shuffle", [True, False])
def test_an_epoch_covers_every_example_once(batch_size, shuffle):
    data = make_dataset()
    batches = list(iterate_batches(data, batch_size, shuffle=shuffle, rng=np.random.default_rng(1)))
    sizes = [len(y) for _, y in batches]
    assert sizes == [batch_size] * (23 // batch_size) + ([23 % batch_size] if 23 % batch_size else [])
    ids = np.concatenate([np.round(x[:, 0, 0, 0] * 255).astype(int) for x, _ in batches])
    assert sorted(ids.tolist()) == list(range(23))
    assert (ids.tolist() == list(range(23))) == (not shuffle)  # seeded: this permutation is not the identity
    np.testing.assert_array_equal(np.concatenate([y for _, y in batches]), data.labels[ids])


def test_batches_are_float32_in_unit_range_and_int64_labels():
    data = make_dataset()
    x, y = next(iterate_batches(data, 8, shuffle=False))
    assert x.dtype == np.float32 and y.dtype == np.int64 and x.shape == (8, 3, 4, 4)
    np.testing.assert_allclose(x, data.images[:8] / 255, rtol=1e-6)


def test_same_seed_same_order():
    data = make_dataset()
    first = [y for _, y in iterate_batches(data, 4, rng=np.random.default_rng(7))]
    second = [y for _, y in iterate_batches(data, 4, rng=np.random.default_rng(7))]
    assert all(np.array_equal(a, b) for a, b in zip(first, second, strict=True))


def test_the_dataset_is_not_copied_or_changed():
    data = make_dataset()
    before = data.images.copy()
    batches = iterate_batches(data, 5, rng=np.random.default_rng(0), augment=Augmentation(1, True),
                              normalize=channel_stats(data))
    for x, _ in batches:
        x += 1  # the caller may change its batch in place
    np.testing.assert_array_equal(data.images, before)


def test_normalize_per_channel():
    # (x − mean[c]) / std[c], from a Normalization or a plain (mean, std) pair.
    data = make_dataset()
    mean, std = [0.1, 0.5, 0.9], [0.2, 0.25, 0.5]
    x, _ = next(iterate_batches(data, 23, shuffle=False, normalize=(mean, std)))
    expected = (data.images / 255 - np.array(mean)[:, None, None]) / np.array(std)[:, None, None]
    np.testing.assert_allclose(x, expected, rtol=1e-5, atol=1e-6)  # float32 arithmetic


def test_channel_stats_matches_float64_numpy_and_normalises_to_zero_mean_unit_std():
    data = make_dataset(count=50)
    stats = channel_stats(data)
    pixels = data.images / 255
    np.testing.assert_allclose(stats.mean, pixels.mean(axis=(0, 2, 3)), rtol=1e-12)
    np.testing.assert_allclose(stats.std, pixels.std(axis=(0, 2, 3)), rtol=1e-12)
    x, _ = next(iterate_batches(data, 50, shuffle=False, normalize=stats))
    np.testing.assert_allclose(x.mean(axis=(0, 2, 3)), 0, atol=1e-5)
    np.testing.assert_allclose(x.std(axis=(0, 2, 3)), 1, atol=1e-5)


def test_normalization_round_trips_through_json():
    stats = channel_stats(make_dataset())
    text = json.dumps(stats.to_dict())
    assert Normalization(**json.loads(text)) == stats
    assert isinstance(json.loads(text)["mean"], list)


def test_augment_receives_uint8_batches_and_the_generator():
    data = make_dataset()
    seen = []

    def record(images, rng):
        seen.append((images.dtype, images.shape, isinstance(rng, np.random.Generator)))
        return np.zeros_like(images)

    x, _ = next(iterate_batches(data, 6, shuffle=False, augment=record))
    assert seen == [(np.uint8, (6, 3, 4, 4), True)] and not x.any()


def test_errors():
    data = make_dataset()
    with pytest.raises(ValueError, match=r"batch_size must be ≥ 1, got 0"):
        iterate_batches(data, 0)
    with pytest.raises(TypeError, match=r"batch_size must be a whole number, got 2.5"):
        iterate_batches(data, 2.5)
    with pytest.raises(ValueError, match=r"Normalization of 1 channel\(s\) does not fit the dataset 'toy' with 3"):
        iterate_batches(data, 4, normalize=([0.5], [0.2]))
    with pytest.raises(ValueError, match=r"std must be > 0 in every channel, got \(0.2, 0.0\)"):
        Normalization([0.5, 0.5], [0.2, 0.0])
    with pytest.raises(ValueError, match=r"one mean and one std per channel, got mean=\(0.5,\) and std=\(0.2, 0.2\)"):
        Normalization([0.5], [0.2, 0.2])
