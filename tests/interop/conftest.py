"""Models for the interop tests: every preset, one architecture with every layer volnet has, and a
trained model; and volnet's own probabilities for pixels, computed as `volnet predict` does.

The test modules reach the helpers through the `interop` fixture (test modules cannot import a
conftest under --import-mode=importlib) and the models through the parametrised fixtures."""

from __future__ import annotations

import types

import numpy as np
import pytest

from volnet.data import Dataset, Normalization
from volnet.layers import AvgPool2D, BatchNorm, Conv2D, Linear, MaxPool2D, ReLU, Sequential
from volnet.models import PRESETS, build_model
from volnet.training import predict_proba
from volnet.training.run import TrainingConfig, load_trained_model, train

# every layer type, with stride, padding, dilation, groups, rectangular windows, no bias, padded
# average pooling, batch norm of volumes and of vectors, and a residual block with a projection
EVERY_LAYER = ("conv3-8/s2/d2 lrelu0.1 avgpool3/s1/p1 conv3-8/g2/p0/nobias tanh bn sigmoid pool3/s2/p1 "
               "res[conv3-8 bn relu conv3-8 bn] relu res[conv2-16/s2/p0 relu] gap dropout0.3 fc12/nobias bn "
               "relu flatten fc5")
EVERY_LAYER_INPUT = (2, 33, 33)
# what ConvNetJS can hold: no average pooling, GAP, leaky ReLU, residual blocks, dilation or groups
CONVNETJS_LAYERS = ("conv5-6/s2/p1/nobias bn tanh pool3/s1/p1 conv3-4/p0 bn sigmoid flatten dropout0.2 relu "
                    "fc7 bn relu fc3")
RECTANGULAR = "rectangular windows"  # built in Python: architecture strings write square windows only
TRAINED = "conv3-8 bn relu pool conv4-16/s2/p1 bn relu dropout0.2 fc32 bn relu fc10"


def with_statistics(model, seed: int = 0):
    # give every batch norm non-trivial gamma, beta and running statistics (fresh ones are 1, 0, 0, 1)
    rng = np.random.default_rng(seed)
    for _, layer in model.named_layers():
        if isinstance(layer, BatchNorm):
            for part, low, high in (("gamma", 0.5, 1.5), ("beta", -0.5, 0.5), ("running_mean", -0.3, 0.3),
                                    ("running_var", 0.5, 2.0)):
                getattr(layer, part).data[...] = rng.uniform(low, high, getattr(layer, part).data.shape)
    return model.eval()


def normalization_for(depth: int) -> Normalization:
    return Normalization(np.linspace(0.2, 0.4, depth), np.linspace(0.3, 0.5, depth))


def random_model(spec: str):
    # (model, normalization, class names) for a preset or one of the architectures above
    if spec == RECTANGULAR:
        model = Sequential(Conv2D(4, (3, 1), stride=(2, 1), pad=(1, 0)), ReLU(), MaxPool2D((2, 1)),
                           AvgPool2D((1, 2), pad=(0, 1)), Linear(3), input_shape=(1, 7, 6), seed=1).eval()
    else:
        shape = {EVERY_LAYER: EVERY_LAYER_INPUT, CONVNETJS_LAYERS: (3, 13, 13)}.get(spec)
        model = with_statistics(build_model(spec, input_shape=shape, seed=1))
    classes = model.output_shape(model.input_shape)[0]
    return model, normalization_for(model.input_shape[0]), [f"class {k}" for k in range(classes)]


# every model ONNX and PyTorch can hold, and those ConvNetJS can
ANY_MODEL = [*PRESETS, EVERY_LAYER, RECTANGULAR]
CONVNETJS_MODELS = [name for name in PRESETS if name != "resnet-small"] + [CONVNETJS_LAYERS]


@pytest.fixture(scope="session", params=ANY_MODEL)
def any_spec(request):
    return request.param


@pytest.fixture(scope="session")
def any_model(any_spec):
    # (model, normalization, class names) for every preset and test architecture
    return random_model(any_spec)


@pytest.fixture(scope="session", params=CONVNETJS_MODELS)
def convnetjs_model(request):
    return random_model(request.param)


@pytest.fixture(scope="session")
def trained(tmp_path_factory):
    # a model trained for one short epoch on the embedded sample: (model, normalization, class names, path)
    out = tmp_path_factory.mktemp("trained")
    train(TrainingConfig(architecture=TRAINED, limit=400, epochs=1, val_fraction=0), out, progress=False,
          log=lambda line: None)
    model, normalization, class_names, _ = load_trained_model(out / "model.npz")
    return model, normalization, class_names, out / "model.npz"


def pixels(shape, count: int = 5, seed: int = 0) -> np.ndarray:
    # images as `volnet predict` reads them: (count, D, H, W) uint8
    return np.random.default_rng(seed).integers(0, 256, (count, *shape), dtype=np.uint8)


def volnet_probabilities(model, normalization, images: np.ndarray) -> np.ndarray:
    # what `volnet predict` computes for these pixels
    data = Dataset(images, np.zeros(len(images), np.int64), [str(k) for k in range(2)], "pixels")
    return predict_proba(model, data, normalize=normalization)


@pytest.fixture(scope="session")
def interop():
    return types.SimpleNamespace(random_model=random_model, with_statistics=with_statistics, pixels=pixels,
                                 volnet_probabilities=volnet_probabilities, EVERY_LAYER=EVERY_LAYER,
                                 RECTANGULAR=RECTANGULAR)
