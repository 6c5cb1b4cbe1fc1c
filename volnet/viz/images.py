"""Where the pictures' input images come from: files, a real photograph, Fashion-MNIST.

The photograph is Grace Hopper's portrait (U.S. Navy, public domain) that matplotlib ships
in its sample data, so it is there wherever volnet is installed.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib import cbook
from PIL import Image

from volnet.data import load_dataset
from volnet.data.folder import open_image

PHOTOGRAPH = "grace_hopper.jpg"


def _open(path) -> Image.Image:
    image = open_image(path)
    try:
        image.load()
    except (OSError, ValueError) as error:  # damage shows only when the pixels are decoded
        raise ValueError(f"{path}: Pillow cannot decode this image ({error}). Remove or replace it.") from None
    return image


def _resized(image: Image.Image, width: int | None, height: int | None) -> Image.Image:
    if width is None and height is None:
        return image
    if height is None:
        height = max(1, round(image.height * width / image.width))
    if width is None:
        width = max(1, round(image.width * height / image.height))
    # a box filter averages every source pixel that falls into a target pixel: no aliasing
    return image.resize((width, height), Image.Resampling.BOX)


def load_image(path, depth: int = 1, width: int | None = None, height: int | None = None) -> np.ndarray:
    """Read an image file as a uint8 volume (D, H, W): grayscale for depth 1, RGB for depth 3.

    Args:
        path: any file Pillow reads. depth: 1 or 3. width, height: resize to these (one
            given keeps the aspect ratio; none keeps the size).

    Raises:
        FileNotFoundError: no such file. ValueError: not an image, or depth not 1 or 3.
    """
    if depth not in (1, 3):
        raise ValueError(f"an image volume has depth 1 (grayscale) or 3 (RGB), got depth {depth}")
    image = _resized(_open(path).convert("L" if depth == 1 else "RGB"), width, height)
    pixels = np.asarray(image, dtype=np.uint8)
    return pixels[None] if depth == 1 else pixels.transpose(2, 0, 1).copy()


def photograph_path() -> Path:
    """The path of the sample photograph (see the module doc)."""
    return Path(cbook.get_sample_data(PHOTOGRAPH, asfileobj=False))


def fashion_image(index: int = 0, split: str = "test") -> tuple[np.ndarray, str]:
    """One image of volnet's Fashion-MNIST sample: (1, 28, 28) uint8 and its class name.

    Raises:
        ValueError: index outside the split.
    """
    data = load_dataset("sample", split)
    if not 0 <= index < len(data):
        raise ValueError(f"the Fashion-MNIST sample's {split} split has images 0 to {len(data) - 1}; "
                         f"there is no image {index}")
    return data.images[index], data.class_names[int(data.labels[index])]
