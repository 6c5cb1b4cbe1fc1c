"""A synthetic task whose answer is known, and small models, shared by the explain tests.

Patch position: 1×12×12 images of noise with one bright 3×3 patch at one of four places;
the label is which place (PATCH_CORNERS[label]), so a model that learned the task can only be
looking at the patch.
"""

from __future__ import annotations

import numpy as np
import pytest

from volnet.layers import SoftmaxCrossEntropy
from volnet.models import build_model
from volnet.optim import make_optimizer

SIDE, PATCH = 12, 3
PATCH_CORNERS = [(1, 1), (1, 8), (8, 1), (8, 8)]


def patch_images(count: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(count, 1, 12, 12) float64 images and (count,) labels of the patch-position task."""
    labels = rng.integers(0, len(PATCH_CORNERS), count)
    images = 0.3 * rng.standard_normal((count, 1, SIDE, SIDE))
    for image, label in zip(images, labels):
        row, column = PATCH_CORNERS[label]
        image[0, row:row + PATCH, column:column + PATCH] += 2.0
    return images, labels


def patch_mask(label: int) -> np.ndarray:
    """(12, 12) True on the patch of class `label`."""
    mask = np.zeros((SIDE, SIDE), dtype=bool)
    row, column = PATCH_CORNERS[label]
    mask[row:row + PATCH, column:column + PATCH] = True
    return mask


def fit(model, images, labels, epochs: int = 8, batch_size: int = 32, seed: int = 0):
    """Train with Adam on (images, labels); returns the model in inference mode."""
    rng = np.random.default_rng(seed)
    optimizer = make_optimizer("adam", model.parameters(), lr=1e-2)
    loss = SoftmaxCrossEntropy()
    for _ in range(epochs):
        order = rng.permutation(len(images))
        for start in range(0, len(images), batch_size):
            batch = order[start:start + batch_size]
            model.zero_grad()
            _, dscores = loss(model.forward(images[batch]), labels[batch])
            model.backward(dscores)
            optimizer.step()
    return model.eval()


@pytest.fixture(scope="session")
def patch_task():
    # (trained model, test images, test labels); the model gets every test image right
    rng = np.random.default_rng(0)
    images, labels = patch_images(640, rng)
    model = fit(build_model("conv3-8 relu pool fc16 relu fc4", (1, SIDE, SIDE), seed=1).to(np.float64),
                images, labels)
    test_images, test_labels = patch_images(40, rng)
    assert (model.forward(test_images).argmax(axis=1) == test_labels).all()
    return model, test_images, test_labels
