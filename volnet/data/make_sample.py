"""The embedded sample: a class-balanced slice of Fashion-MNIST that ships inside volnet.

The first 1,000 training images of every class (10,000 in all) and the first 200 test
images of every class (2,000), in their original order, written as IDX .gz files to
volnet/data/sample/, where load_dataset("sample", split) reads them offline. Rebuild it from
Debian's dataset-fashion-mnist with

    python -m volnet.data.make_sample
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from volnet.data.idx import write_idx
from volnet.data.sources import DEBIAN_FASHION_MNIST_DIR, SAMPLE_DIR, load_idx_split, mnist_files

PER_CLASS = {"train": 1000, "test": 200}


def first_per_class(labels: np.ndarray, count: int) -> np.ndarray:
    """Sorted positions of the first `count` examples of every class present in `labels` (N,)."""
    classes, totals = np.unique(labels, return_counts=True)
    if totals.min() < count:
        raise ValueError(f"class {classes[totals.argmin()]} has only {totals.min()} examples; {count} are needed.")
    return np.sort(np.concatenate([np.flatnonzero(labels == label)[:count] for label in classes]))


def make_sample(source=DEBIAN_FASHION_MNIST_DIR, destination=SAMPLE_DIR) -> None:
    """Write the sample's four IDX .gz files (named as Fashion-MNIST's) to `destination`.

    Args:
        source: a folder with the full Fashion-MNIST files.
        destination: where to write the sample.
    """
    destination = Path(destination)
    destination.mkdir(parents=True, exist_ok=True)
    for split, count in PER_CLASS.items():
        full = load_idx_split(Path(source), split, None, "fashion-mnist")
        keep = first_per_class(full.labels, count)
        images_file, labels_file = mnist_files(split)
        write_idx(destination / images_file, full.images[keep, 0])
        write_idx(destination / labels_file, full.labels[keep].astype(np.uint8))


if __name__ == "__main__":
    make_sample()
    print(f"wrote the sample to {SAMPLE_DIR}")
