"""Small slices of the embedded Fashion-MNIST sample and a fast model, shared by the training tests."""

from __future__ import annotations

import numpy as np
import pytest

from volnet.data import Augmentation, channel_stats, load_dataset
from volnet.models import build_model
from volnet.optim import make_optimizer, make_schedule
from volnet.training import Trainer

# dropout, batch norm and augmentation: every kind of state a resumed run must restore
SMALL_ARCHITECTURE = "conv3-8 relu pool dropout0.2 fc16 bn relu fc10"


@pytest.fixture(scope="session")
def sample_train():
    return load_dataset("sample", "train")


@pytest.fixture(scope="session")
def small_split(sample_train):
    # 480 training and 120 validation examples
    return sample_train.subset(slice(0, 600)).split(0.2, np.random.default_rng(0))


@pytest.fixture
def make_trainer(small_split):
    # a factory: a fresh model, optimizer, schedule and trainer, identical on every call
    train_set, _ = small_split
    normalize = channel_stats(train_set)

    def make(out_dir=None, epochs=2, batch_size=32, seed=5, architecture=SMALL_ARCHITECTURE, **options):
        model = build_model(architecture, (1, 28, 28), seed=3)
        optimizer = make_optimizer("adam", model.parameters(), lr=options.pop("lr", 2e-3))
        schedule = make_schedule("cosine", optimizer.lr, epochs * -(-len(train_set) // batch_size))
        return Trainer(model, optimizer, schedule=schedule, batch_size=batch_size, normalize=normalize, seed=seed,
                       augment=Augmentation(2, True), out_dir=out_dir, progress=False, log=lambda line: None,
                       **options)

    return make
