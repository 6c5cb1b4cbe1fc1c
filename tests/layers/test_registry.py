"""The layer protocol and the registry: every registered type answers for itself, and a layer
type defined outside volnet joins the architecture strings, the summary, the diagram, saved
files, the gradient check and ONNX export by registering, with no other change."""

import math

import numpy as np
import pytest

import volnet as v
from volnet.gradients.every_layer import check_all_gradients, layer_cases
from volnet.gradients.numerical import VOLUME, LayerCase, away_from_zero
from volnet.layers import Layer, Parameter, registry
from volnet.layers.cost import Cost
from volnet.layers.twin import Module
from volnet.layers.words import NUMBER, Word
from volnet.models.summary import summary, summary_rows
from volnet.viz.diagram import model_volumes


def test_every_registered_type_has_gradient_cases_and_a_unique_word():
    kinds = registry.layer_types()
    assert list(kinds)[:4] == ["Conv2D", "MaxPool2D", "AvgPool2D", "GlobalAvgPool2D"]
    for name, kind in kinds.items():
        assert kind.gradient_cases(), name
    words = [kind.word.name for kind in kinds.values() if kind.word is not None]
    assert len(words) == len(set(words)) == len(registry.word_types())


def test_registering_a_second_class_under_a_taken_name_or_word_is_refused(monkeypatch):
    monkeypatch.setattr(registry, "_LAYER_TYPES", dict(registry._LAYER_TYPES))

    class Conv2D(Layer):
        pass

    with pytest.raises(ValueError, match=r"a layer type named Conv2D is registered already"):
        registry.register(Conv2D)

    class Convolution(Layer):
        word = Word("conv", "conv", "conv", "conv")

    with pytest.raises(ValueError, match=r"Convolution's architecture word 'conv' is Conv2D's already"):
        registry.register(Convolution)


@pytest.mark.parametrize("name, example", [("Up", "up2"), ("sc", "scl2"), ("up2", "up2")])
def test_a_word_whose_name_is_not_the_letters_its_words_start_with_is_refused(monkeypatch, name, example):
    # architecture strings find a word's layer type by its leading lower-case letters
    monkeypatch.setattr(registry, "_LAYER_TYPES", dict(registry._LAYER_TYPES))

    class Upsample(Layer):
        word = Word(name, r"[a-z]+\d+", "up<N>", example)

    with pytest.raises(ValueError, match=rf"Upsample's architecture word is named '{name}', but a word's name must "
                                         rf"be the lower-case letters its words start with"):
        registry.register(Upsample)


class Gain(Layer):
    """y = g_d · x on each depth slice d: one learnable gain per slice (a layer made for this test)."""

    word = Word("gain", f"gain{NUMBER}?", "gain or gain<g>, e.g. gain2", "gain2", suffixes={"s": "spread"})

    def __init__(self, initial: float = 1.0):
        super().__init__()
        self.initial = initial

    def _create_parameters(self, input_shape, rng):
        self.gain = Parameter(np.full(input_shape[0], self.initial, dtype=self.dtype))

    def _scale(self):
        return self.gain.data.reshape(-1, *[1] * (len(self.input_shape) - 1))

    def _forward(self, x):
        self.cache = x
        return x * self._scale()

    def _backward(self, dout):
        axes = (0, *range(2, dout.ndim))
        self.gain.grad += (dout * self.cache).sum(axis=axes)
        return dout * self._scale()

    @classmethod
    def from_word(cls, numbers, options, rng):
        return cls(float(numbers[0] or 1.0))

    def cost(self, input_shape, output_shape):
        outputs = math.prod(output_shape)
        return Cost(input_shape[0], outputs, outputs)

    def describe(self):
        return f"gain ×{self.initial:g}"

    def to_onnx(self, graph, name, x):
        return graph.node("Mul", [x, graph.weight(f"{name}.gain", self._scale())], name)

    @classmethod
    def gradient_cases(cls):
        return (LayerCase("gain", lambda: cls(0.5), away_from_zero(VOLUME)),)


@pytest.fixture
def gain(monkeypatch):
    # a copy of the registry for this test, so that Gain is forgotten afterwards
    monkeypatch.setattr(registry, "_LAYER_TYPES", dict(registry._LAYER_TYPES))
    return registry.register(Gain)


def test_a_registered_layer_has_a_word_with_the_shared_errors(gain):
    model = v.build_model("conv3-4 gain2 relu pool fc3", input_shape=(1, 6, 6))
    assert isinstance(model[1], Gain) and model[1].initial == 2.0
    with pytest.raises(ValueError, match=r"'gain2/x1' at position 9: '/x1' is not a suffix of 'gain2'; "
                                         r"it takes /s<n> \(spread\)"):
        v.build_model("conv3-4 gain2/x1 fc3", input_shape=(1, 6, 6))
    with pytest.raises(ValueError, match=r"unknown word 'gian2' at position 1; did you mean 'gain2'\?(.|\n)*"
                                         r"Words are conv3-32, .*, dropout0.5, gain2, res\["):
        v.build_model("gian2 fc3", input_shape=(1, 6, 6))


def test_a_registered_layer_has_its_summary_row_and_diagram_words(gain):
    model = v.build_model("conv3-4 gain2 relu fc3", input_shape=(1, 6, 6))
    row = summary_rows(model)[2]
    assert (row.layer, row.parameters, row.multiply_adds, row.activations) == ("Gain(initial=2.0)", 4, 144, 144)
    assert "Gain(initial=2.0)" in summary(model)
    volumes = model_volumes(model)
    assert volumes[2].layers == ["2: gain ×2", "3: relu"]  # not elementwise: a box of its own; relu on its arrow
    assert volumes[2].shape == (4, 6, 6)


def test_a_registered_layer_is_saved_and_loaded(gain, tmp_path):
    model = v.build_model("conv3-4 gain2 fc3", input_shape=(1, 6, 6))
    model[1].gain.data[...] = [1, 2, 3, 4]
    v.save_model(tmp_path / "model.npz", model)
    loaded, _ = v.load_model(tmp_path / "model.npz")
    x = np.random.default_rng(0).standard_normal((2, 1, 6, 6)).astype(np.float32)
    assert isinstance(loaded[1], Gain)
    np.testing.assert_array_equal(loaded.forward(x), model.forward(x))


def test_a_registered_layer_reaches_the_gradient_check(gain):
    assert "gain" in [case.name for case in layer_cases()]
    results = [result for result in check_all_gradients() if result.case == "gain"]
    assert [result.gradient for result in results] == ["dx", "dgain"] and all(r.passed for r in results)


def test_a_registered_layer_without_a_twin_is_refused_by_name(gain):
    from volnet.bench.mirror import torch_layout

    model = v.build_model("conv3-4 gain2 fc3", input_shape=(1, 6, 6))
    with pytest.raises(TypeError, match=r"Gain #2 \(initial=2.0\) has no PyTorch counterpart in volnet "
                                        r"\(layers with one: AvgPool2D, BatchNorm, Conv2D, .*Tanh, Sequential"):
        torch_layout(model)


def test_a_registered_layer_without_a_convnetjs_form_is_refused_by_name(gain):
    from volnet.interop import convnetjs_net

    with pytest.raises(ValueError, match=r"^Gain #2 \(initial=2.0\) has no ConvNetJS form"):
        convnetjs_net(v.build_model("conv3-4 gain2 fc3", input_shape=(1, 6, 6)))


def test_a_registered_layer_is_exported_to_onnx(gain):
    onnxruntime = pytest.importorskip("onnxruntime")
    from volnet.interop.onnx_graph import onnx_model

    model = v.build_model("conv3-4 gain2 fc3", input_shape=(1, 6, 6)).eval()
    model[1].gain.data[...] = [1, 2, 3, 4]
    session = onnxruntime.InferenceSession(onnx_model(model).SerializeToString())
    pixels = np.random.default_rng(0).uniform(0, 255, (2, 1, 6, 6)).astype(np.float32)
    scores = session.run(["scores"], {"pixels": pixels})[0]
    np.testing.assert_allclose(scores, model.forward(pixels / 255), rtol=1e-5, atol=1e-5)


class Softsign(Layer):
    """x / (1 + |x|), elementwise (a layer made for this test, with a PyTorch twin)."""

    word = Word("softsign", "softsign", "softsign", "softsign")
    elementwise = True

    def _forward(self, x):
        self.cache = x
        return x / (1 + np.abs(x))

    def _backward(self, dout):
        return dout / (1 + np.abs(self.cache)) ** 2

    def torch_modules(self):
        return [Module("Softsign")]

    @classmethod
    def gradient_cases(cls):
        return (LayerCase("softsign", cls, away_from_zero(VOLUME)),)


def test_a_registered_layer_with_a_twin_computes_what_its_twin_does(monkeypatch):
    torch = pytest.importorskip("torch")
    from volnet.bench.mirror import to_torch

    monkeypatch.setattr(registry, "_LAYER_TYPES", dict(registry._LAYER_TYPES))
    registry.register(Softsign)
    model = v.build_model("conv3-4 softsign pool fc3", input_shape=(1, 6, 6)).eval()
    assert [volume.layers for volume in model_volumes(model)][1] == ["1: conv 3×3, 4 filters, pad 1",
                                                                     "params (3·3·1 + 1)·4 = 40",
                                                                     "(unshared: 1,440)", "2: softsign"]
    x = np.random.default_rng(0).standard_normal((2, 1, 6, 6)).astype(np.float32)
    with torch.no_grad():
        theirs = to_torch(model)(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(model.forward(x), theirs, rtol=1e-5, atol=1e-6)
