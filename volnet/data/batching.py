"""Mini-batches: a shuffled order, per-batch conversion to float32, per-channel normalisation.

An epoch draws one permutation of the N positions and gathers one batch at a time, so each
step copies and converts only B images and the uint8 dataset is never copied. A batch goes
through, in order:

    gather     images[order[i : i + B]]        (B, D, H, W) uint8
    augment    augment(batch, rng)             (B, D, H, W) uint8          (optional)
    share      batch[share(B)]                 (B_r, D, H, W)              (optional)
    scale      x = batch / 255                 (B_r, D, H, W) float32 in [0, 1]
    normalise  x[:, c] = (x[:, c] − mean[c]) / std[c]                     (optional)

The share is what one rank of a distributed run keeps of every global batch (see
volnet.distributed): the order and the augmentation are drawn for the whole batch, from a
generator in the same state on every rank, and only then sliced, so that neither depends on
how many ranks there are.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

from volnet.data.dataset import Dataset


@dataclass(frozen=True)
class Normalization:
    """Per-channel mean and standard deviation of pixels scaled to [0, 1].

    A model works only on inputs normalised as its training data was, so this value is
    saved with its weights: to_dict() gives plain lists for JSON, and
    Normalization(**value.to_dict()) rebuilds it.

    Args:
        mean: D numbers, one per channel (depth slice).
        std: D positive numbers.
    """

    mean: tuple[float, ...]
    std: tuple[float, ...]

    def __post_init__(self):
        mean = tuple(float(value) for value in np.ravel(self.mean))
        std = tuple(float(value) for value in np.ravel(self.std))
        if not mean or len(mean) != len(std):
            raise ValueError(f"Normalization needs one mean and one std per channel, got mean={mean} and std={std}.")
        if not all(value > 0 for value in std):
            raise ValueError(
                f"Normalization std must be > 0 in every channel, got {std}; a channel with no spread "
                "cannot be standardised (leave normalisation off for it)."
            )
        object.__setattr__(self, "mean", mean)
        object.__setattr__(self, "std", std)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """Normalise a float batch (N, D, H, W) in place and return it."""
        if x.ndim != 4:
            raise ValueError(f"Normalization applies to a batch (N, D, H, W), got shape {x.shape}.")
        self.check_channels(x.shape[1], f"a batch of shape {x.shape}")
        x -= np.asarray(self.mean, dtype=x.dtype)[:, None, None]
        x /= np.asarray(self.std, dtype=x.dtype)[:, None, None]
        return x

    def check_channels(self, channels: int, what: str) -> None:
        """Raise ValueError unless this normalisation has `channels` channels, naming `what`."""
        if len(self.mean) != channels:
            raise ValueError(
                f"a Normalization of {len(self.mean)} channel(s) does not fit {what} with {channels} channel(s); "
                "compute it with channel_stats() on training data with the same channels."
            )

    def to_dict(self) -> dict[str, list[float]]:
        """{"mean": [...], "std": [...]}, ready for json.dumps."""
        return {"mean": list(self.mean), "std": list(self.std)}


# below any real spread (one pixel of 10¹⁰ off by 1/255 gives 4e-8), above rounding noise (~1e-17)
_NO_SPREAD = 1e-9


def scaled_batch(images: np.ndarray, normalize: Normalization | None = None, dtype=np.float32) -> np.ndarray:
    """uint8 images (N, D, H, W) as a model sees them: divided by 255 into `dtype`, then
    normalised (N, D, H, W) — what training feeds the model, and what explaining, drawing and
    the lab must feed it too."""
    x = np.divide(images, 255, dtype=dtype)
    return x if normalize is None else normalize(x)


def channel_stats(dataset: Dataset) -> Normalization:
    """The mean and standard deviation of every channel over all N·H·W pixels, scaled to [0, 1].

    Counts how often each of the 256 byte values occurs in a channel, then
    mean = Σ_v count(v)·v/255 / n and std = sqrt(Σ_v count(v)·(v/255 − mean)² / n), so no
    float copy of the dataset is made.

    A channel whose pixels are all equal (std 0) gets std 1, so it is only centred, as
    scikit-learn's StandardScaler treats a constant feature: such a dataset still trains
    (there is nothing to learn from that channel) instead of dividing by zero.

    Returns:
        a Normalization with D means and D standard deviations (all > 0).
    """
    values = np.arange(256) / 255
    means, stds = [], []
    for channel in range(dataset.images.shape[1]):
        counts = np.bincount(dataset.images[:, channel].ravel(), minlength=256)
        mean = counts @ values / counts.sum()
        means.append(mean)
        std = np.sqrt(counts @ (values - mean) ** 2 / counts.sum())
        stds.append(std if std > _NO_SPREAD else 1.0)
    return Normalization(means, stds)


def iterate_batches(
    dataset: Dataset,
    batch_size: int,
    shuffle: bool = True,
    rng: np.random.Generator | None = None,
    augment: Callable[[np.ndarray, np.random.Generator], np.ndarray] | None = None,
    normalize: Normalization | tuple | None = None,
    share: Callable[[int], slice] | None = None,
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """One epoch of mini-batches covering every example exactly once.

    The arguments are checked, and the order drawn, when this is called; the batches are
    then gathered one at a time as the loop asks for them.

    Args:
        dataset: the Dataset to draw from.
        batch_size: B, examples per batch; the last batch holds the N mod B left over (if any).
        shuffle: a new random order (from rng) for this epoch; else the dataset's order.
        rng: the np.random.Generator for the order and the augmentation; a fresh unseeded
            one if None.
        augment: a function (images (B, D, H, W) uint8, rng) -> images of the same shape,
            e.g. Augmentation(padding=2, flip=True); applied before scaling.
        normalize: a Normalization, or a (mean, std) pair of per-channel sequences.
        share: B -> the slice of each batch of B examples to keep (after augmenting the
            whole batch), e.g. volnet.distributed.World.share; None keeps all.

    Yields:
        x (B, D, H, W) float32, and y (B,) int64 labels (B_r rows each with a share).

    Raises:
        ValueError: batch_size < 1, or a normalisation with the wrong number of channels.
    """
    try:
        batch_size = operator.index(batch_size)
    except TypeError:
        raise TypeError(f"batch_size must be a whole number, got {batch_size!r}.") from None
    if batch_size < 1:
        raise ValueError(f"batch_size must be ≥ 1, got {batch_size}.")
    if normalize is not None:
        normalize = normalize if isinstance(normalize, Normalization) else Normalization(*normalize)
        normalize.check_channels(dataset.images.shape[1], f"the dataset {dataset.name!r}")
    if rng is None and (shuffle or augment is not None):
        rng = np.random.default_rng()
    order = rng.permutation(len(dataset)) if shuffle else np.arange(len(dataset))
    return _batches(dataset, order, batch_size, rng, augment, normalize, share)


def _batches(dataset, order, batch_size, rng, augment, normalize, share):
    """The generator behind iterate_batches: gather, augment, share, scale, normalise (module docstring)."""
    for start in range(0, len(order), batch_size):
        positions = order[start : start + batch_size]
        images = dataset.images[positions]
        if augment is not None:
            images = augment(images, rng)
        if share is not None:
            kept = share(len(positions))
            images, positions = images[kept], positions[kept]
        yield scaled_batch(images, normalize), dataset.labels[positions]
