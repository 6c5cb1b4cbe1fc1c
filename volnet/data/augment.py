"""Data augmentation: new views of a batch of images that keep their labels.

Every function takes a batch (N, D, H, W) of any dtype and returns a batch of the same
shape and dtype. Random functions draw once per image from the np.random.Generator they
are given, and work on the whole batch at once (no loop over images). Augment the uint8
batch before scaling and normalising it, so that the zeros brought in by padding are black.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def flip_horizontal(images: np.ndarray) -> np.ndarray:
    """Mirror every image left to right: out[n, c, i, j] = images[n, c, i, W − 1 − j] (a view)."""
    return images[..., ::-1]


def random_flip(images: np.ndarray, rng: np.random.Generator, probability: float = 0.5) -> np.ndarray:
    """Mirror each image left to right with the given probability."""
    flipped = rng.random(len(images)) < probability
    return np.where(flipped[:, None, None, None], flip_horizontal(images), images)


def translate(images: np.ndarray, shifts) -> np.ndarray:
    """Shift each image by whole pixels, filling the uncovered border with zeros.

        out[n, c, i, j] = images[n, c, i − dy[n], j − dx[n]], or 0 where that lies outside

    Args:
        images: (N, D, H, W).
        shifts: (N, 2) integers (dy, dx): positive dy moves the image down, positive dx right.

    Returns:
        (N, D, H, W), same dtype.
    """
    shifts = np.asarray(shifts)
    count, channels, height, width = images.shape
    if shifts.shape != (count, 2) or not np.issubdtype(shifts.dtype, np.integer):
        raise ValueError(
            f"translate needs one integer (dy, dx) per image: shifts of shape ({count}, 2), got {shifts.shape}."
        )
    border = int(np.abs(shifts).max(initial=0))
    padded = np.pad(images, ((0, 0), (0, 0), (border, border), (border, border)))
    rows = np.arange(height) - shifts[:, :1] + border  # (N, H): the padded row each output row reads
    columns = np.arange(width) - shifts[:, 1:] + border  # (N, W)
    return padded[
        np.arange(count)[:, None, None, None],
        np.arange(channels)[None, :, None, None],
        rows[:, None, :, None],
        columns[:, None, None, :],
    ]


def random_crop(images: np.ndarray, rng: np.random.Generator, padding: int) -> np.ndarray:
    """Pad each image with `padding` zeros on every side and cut out an H×W window at a random place.

    This is a random translation: each image moves by (dy, dx), drawn uniformly from
    −padding … padding, with zeros filling the border it uncovers. Small paddings (2 for
    28×28, 4 for 32×32) are the usual choice.
    """
    _check_padding(padding)
    shifts = rng.integers(-padding, padding + 1, size=(len(images), 2))
    return translate(images, shifts)


def _check_padding(padding) -> None:
    if not isinstance(padding, (int, np.integer)) or padding < 0:
        raise ValueError(f"padding must be a whole number of pixels ≥ 0, got {padding!r}.")


@dataclass(frozen=True)
class Augmentation:
    """A random crop with `padding` zeros, then, if `flip`, a random horizontal flip.

    Called as augmentation(images, rng) → images, the form iterate_batches(augment=...) takes.
    """

    padding: int = 0
    flip: bool = False

    def __post_init__(self):
        _check_padding(self.padding)

    def __call__(self, images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        if self.padding:
            images = random_crop(images, rng, self.padding)
        if self.flip:
            images = random_flip(images, rng)
        return images
