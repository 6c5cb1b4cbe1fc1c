"""Tiny datasets written to disk in the exact published formats, shared by the data tests."""

from __future__ import annotations

import pickle
from types import SimpleNamespace

import numpy as np
import pytest

CIFAR_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
TRAIN_BATCH, TEST_BATCH = 3, 4  # images per batch file (the real files hold 10,000)


def cifar_batch_dict(pixels: np.ndarray, labels: np.ndarray, title: bytes) -> dict:
    """A batch as the real python files hold it: bytes keys, (n, 3072) uint8 data, a list of labels."""
    return {
        b"batch_label": title,
        b"labels": [int(label) for label in labels],
        b"data": pixels.reshape(len(pixels), -1),
        b"filenames": [f"image_{k}.png".encode() for k in range(len(pixels))],
    }


@pytest.fixture
def tiny_cifar(tmp_path):
    # CIFAR-10 with 5 training batches of 3 images and a test batch of 4, in both formats:
    # cifar-10-batches-py (protocol-2 pickles with bytes keys) and cifar-10-batches-bin.
    # Tests reach the helpers through it (batch_dict, class_names): conftest is not importable.
    rng = np.random.default_rng(10)
    splits = {
        split: (rng.integers(0, 256, (count, 3, 32, 32), dtype=np.uint8), rng.integers(0, 10, count))
        for split, count in (("train", 5 * TRAIN_BATCH), ("test", TEST_BATCH))
    }
    python_folder, binary_folder = tmp_path / "cifar-10-batches-py", tmp_path / "cifar-10-batches-bin"
    python_folder.mkdir()
    binary_folder.mkdir()
    batches = [(f"data_batch_{k}", "train", slice((k - 1) * TRAIN_BATCH, k * TRAIN_BATCH)) for k in range(1, 6)]
    for file, split, rows in [*batches, ("test_batch", "test", slice(None))]:
        images, labels = splits[split][0][rows], splits[split][1][rows]
        batch = cifar_batch_dict(images, labels, file.encode())
        (python_folder / file).write_bytes(pickle.dumps(batch, protocol=2))
        records = np.concatenate([labels.astype(np.uint8)[:, None], images.reshape(len(images), -1)], axis=1)
        (binary_folder / f"{file}.bin").write_bytes(records.tobytes())
    meta = {b"num_cases_per_batch": TRAIN_BATCH, b"label_names": [name.encode() for name in CIFAR_CLASSES]}
    (python_folder / "batches.meta").write_bytes(pickle.dumps(meta, protocol=2))
    (binary_folder / "batches.meta.txt").write_text("\n".join(CIFAR_CLASSES) + "\n\n")
    return SimpleNamespace(
        python_folder=python_folder, binary_folder=binary_folder, splits=splits, class_names=CIFAR_CLASSES,
        batch_dict=cifar_batch_dict,
    )
