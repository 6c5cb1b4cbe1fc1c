"""ConvNetJS JSON: the real convnet.js from npm, under Node, gives volnet's probabilities; the layers
ConvNetJS has no form for are refused by name.

The Node test needs `node` and the convnetjs package where Node finds it (.ci/run installs it
and sets NODE_PATH; by hand: npm install --prefix DIR convnetjs, NODE_PATH=DIR/node_modules);
without them it is skipped. ConvNetJS is a test dependency only: volnet never ships or runs it.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from volnet.interop import convnetjs_net, export_convnetjs
from volnet.models import build_model

RUNNER = Path(__file__).with_name("convnetjs_forward.js")


def convnetjs_available() -> bool:
    node = shutil.which("node")
    if node is None:
        return False
    found = subprocess.run([node, "-e", "require.resolve('convnetjs')"], capture_output=True, cwd=RUNNER.parent)
    return found.returncode == 0


needs_convnetjs = pytest.mark.skipif(not convnetjs_available(), reason="node or the convnetjs npm package is missing "
                                                                       "(npm install convnetjs; set NODE_PATH)")


def convnetjs_probabilities(net_path, normalized: np.ndarray, tmp_path) -> np.ndarray:
    # ConvNetJS's forward pass on (N, D, H, W) normalised inputs, each given as its H×W×D Vol
    inputs = tmp_path / "inputs.json"
    inputs.write_text(json.dumps(normalized.transpose(0, 2, 3, 1).reshape(len(normalized), -1).tolist()))
    done = subprocess.run(["node", str(RUNNER), str(net_path), str(inputs)], capture_output=True, text=True,
                          timeout=300, cwd=RUNNER.parent)
    assert done.returncode == 0, done.stderr
    return np.array(json.loads(done.stdout))


def normalized_pixels(interop, model, normalization, count=4):
    images = interop.pixels(model.input_shape, count)
    x = images.astype(np.float32) / 255
    return images, normalization(x)


@needs_convnetjs
def test_convnetjs_gives_volnets_probabilities(convnetjs_model, interop, tmp_path):
    model, normalization, class_names = convnetjs_model
    path = tmp_path / "net.json"
    export_convnetjs(model, path, normalization, class_names)
    images, x = normalized_pixels(interop, model, normalization)
    np.testing.assert_allclose(convnetjs_probabilities(path, x, tmp_path),
                               interop.volnet_probabilities(model, normalization, images), atol=1e-5, rtol=0)


@needs_convnetjs
def test_a_trained_model_runs_in_convnetjs(trained, interop, tmp_path):
    model, normalization, class_names, _ = trained
    path = tmp_path / "trained.json"
    export_convnetjs(model, path, normalization, class_names)
    images, x = normalized_pixels(interop, model, normalization, 8)
    np.testing.assert_allclose(convnetjs_probabilities(path, x, tmp_path),
                               interop.volnet_probabilities(model, normalization, images), atol=1e-5, rtol=0)


def test_the_json_says_how_to_feed_it(interop):
    model, normalization, class_names = interop.random_model("fashion")
    net = convnetjs_net(model, normalization, class_names)
    kinds = [layer["layer_type"] for layer in net["layers"]]
    # batch norm folded into conv and fc, dropout left out, a softmax at the end
    assert kinds == ["input", "conv", "relu", "pool", "conv", "relu", "conv", "relu", "pool", "fc", "relu", "fc",
                     "softmax"]
    assert net["layers"][0] == {"layer_type": "input", "out_sx": 28, "out_sy": 28, "out_depth": 1}
    assert net["volnet"]["mean"] == list(normalization.mean) and net["volnet"]["class_names"] == class_names


@pytest.mark.parametrize("spec, refused", [
    ("resnet-small", r"Residual #4 has no ConvNetJS form"),
    ("conv3-4 avgpool fc3", r"AvgPool2D #2 has no ConvNetJS form"),
    ("conv3-4 gap fc3", r"GlobalAvgPool2D #2 has no ConvNetJS form"),
    ("conv3-4 lrelu fc3", r"LeakyReLU #2 .*has no ConvNetJS form"),
    ("conv3-4/g2 fc3", r"Conv2D #1 .*groups=2.* is grouped or dilated"),
    ("conv3-4/d2 fc3", r"Conv2D #1 .*dilation=2.* is grouped or dilated"),
    ("conv3-4 relu bn fc3", r"BatchNorm #3 does not follow a Conv2D or Linear"),
])
def test_layers_convnetjs_cannot_hold_are_refused_by_name(spec, refused):
    shape = (2, 8, 8) if "/g2" in spec else (3, 32, 32) if spec == "resnet-small" else (1, 8, 8)
    with pytest.raises(ValueError, match=refused):
        convnetjs_net(build_model(spec, input_shape=shape))


def test_rectangular_strides_are_refused(interop):
    model, *_ = interop.random_model(interop.RECTANGULAR)
    with pytest.raises(ValueError, match=r"Conv2D #1 .* has stride \(2, 1\); ConvNetJS takes one stride"):
        convnetjs_net(model)
