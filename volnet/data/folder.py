"""A folder of images with one sub-folder per class, read with Pillow.

    root/
      cat/  001.png  002.jpg …
      dog/  …

The class names are the sorted sub-folder names, so label k is the k-th of them. Files are
taken by extension (any format Pillow knows) in sorted order; hidden files and folders are
skipped. Every image is converted to one channel count — 1 (grayscale) or 3 (RGB) — and
resized (bilinear) to one H×W, by default those of the first image.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from volnet.data.dataset import Dataset
from volnet.limits import check_memory
from volnet.ops.geometry import pair

MODES = {1: "L", 3: "RGB"}
GRAYSCALE_MODES = {"1", "L", "LA", "I", "I;16", "F"}


def load_image_folder(root, size=None, channels: int | None = None, name: str | None = None) -> Dataset:
    """A Dataset from `root`/<class name>/<image files>.

    Args:
        root: the folder holding one sub-folder per class.
        size: H×W of every image, as an int (square) or an (H, W) pair; None keeps the
            first image's size and resizes the others to it.
        channels: 1 for grayscale, 3 for RGB; None takes 1 if the first image is
            grayscale, else 3.
        name: the dataset's name; defaults to the folder's name.

    Returns:
        a Dataset with images (N, D, H, W) uint8, labels (N,) and the sub-folder names as
        class names.

    Raises:
        FileNotFoundError: `root` is not a folder.
        ValueError: fewer than 2 class sub-folders, a class with no images, a file that Pillow cannot
            read (the message names it), or channels other than 1 or 3.
    """
    if channels not in (None, *MODES):
        raise ValueError(f"channels must be 1 (grayscale) or 3 (RGB), got {channels!r}.")
    root, folders = Path(root), class_folders(root)
    extensions = Image.registered_extensions()
    files, labels = [], []
    for label, folder in enumerate(folders):
        images = sorted(p for p in folder.iterdir() if p.suffix.lower() in extensions and not p.name.startswith("."))
        if not images:
            raise ValueError(
                f"{folder}: class {folder.name!r} has no image files (.png, .jpg, .bmp, … any format Pillow reads). "
                "Add images or remove the folder."
            )
        files += images
        labels += [label] * len(images)

    if size is None or channels is None:
        with open_image(files[0]) as first:
            size = (first.height, first.width) if size is None else size
            channels = (1 if first.mode in GRAYSCALE_MODES else 3) if channels is None else channels
    height, width = pair(size, "size")
    if height < 1 or width < 1:
        raise ValueError(f"size must be positive, got {size!r}.")
    check_memory(len(files) * channels * height * width,
                 f"{root}: {len(files)} images of {width}×{height}×{channels}")
    images = np.empty((len(files), channels, height, width), dtype=np.uint8)
    for index, path in enumerate(files):
        images[index] = _read_image(path, MODES[channels], height, width)
    return Dataset(images, labels, [folder.name for folder in folders], name or root.name)


def class_folders(root) -> list[Path]:
    """The class sub-folders of `root`, sorted by name (label k is the k-th); hidden ones are skipped.

    Raises:
        FileNotFoundError: `root` is not a folder.
        ValueError: fewer than 2 class sub-folders.
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: no such folder; expected a folder with one sub-folder of images per class.")
    folders = sorted(path for path in root.iterdir() if path.is_dir() and not path.name.startswith("."))
    if len(folders) < 2:
        found = f"only one class sub-folder, {folders[0].name!r}" if folders else "no class sub-folders"
        raise ValueError(
            f"{root}: {found}; a classifier needs at least 2 classes, one sub-folder of images per class, "
            f"e.g. {root / 'cat' / '001.png'} and {root / 'dog' / '001.png'}."
        )
    return folders


def open_image(path) -> Image.Image:
    """Open an image file with Pillow, every failure a one-line error that names the file.

    Pillow refuses images over 2 × Image.MAX_IMAGE_PIXELS pixels (179 million by default)
    before decoding them: a small file can declare a huge image (a "decompression bomb").

    Raises:
        FileNotFoundError: no such file. IsADirectoryError, PermissionError: as open() raises them.
        ValueError: not an image Pillow reads, or one that declares too many pixels.
    """
    path = Path(path)
    try:
        return Image.open(path)
    except FileNotFoundError:
        raise FileNotFoundError(f"no image at {path}") from None
    except (IsADirectoryError, PermissionError):  # the CLI says these of the path itself
        raise
    except Image.DecompressionBombError as error:
        raise ValueError(f"{path}: refused, the image declares more pixels than Pillow's limit ({error}). "
                         f"Resize it, or raise PIL.Image.MAX_IMAGE_PIXELS in Python if it is genuine.") from None
    except (OSError, ValueError) as error:
        raise ValueError(f"{path}: Pillow cannot read this file ({error}). Remove or replace it.") from None


def _read_image(path: Path, mode: str, height: int, width: int) -> np.ndarray:
    """One image as (D, H, W) uint8, converted to `mode` and resized to H×W."""
    with open_image(path) as image:
        try:
            image = image.convert(mode)
        except (OSError, ValueError, Image.DecompressionBombError) as error:  # damage shows only when decoding
            raise ValueError(f"{path}: Pillow cannot decode this image ({error}). Remove or replace it.") from None
        if image.size != (width, height):
            image = image.resize((width, height), Image.BILINEAR)
        pixels = np.asarray(image, dtype=np.uint8)
    return pixels.reshape(height, width, -1).transpose(2, 0, 1)
