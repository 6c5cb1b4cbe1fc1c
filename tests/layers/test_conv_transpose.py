"""ConvTranspose2D: its word, hyperparameter checks and errors, what it says it is (cost,
summary row, diagram words, twin, ONNX), the gradient check, parity with torch.nn.ConvTranspose2d
through the twin, a decoder that trains, and saved models that load bit for bit."""

import numpy as np
import pytest

import volnet as v
from tests.layers.cases import TOLERANCE, needs_torch, volume
from volnet.gradients.numerical import assert_gradients_close, check_layer_gradients
from volnet.layers.conv_transpose import ConvTranspose2D
from volnet.models.summary import summary, summary_rows
from volnet.optim import SGD
from volnet.ops.conv_transpose import conv_transpose2d_forward_reference
from volnet.viz.diagram import model_volumes

# a decoder: down by a stride-2 conv, back up by a transposed conv (4×4, stride 2, pad 1 doubles)
DECODER = "conv4-4/s2/p1 relu deconv4-3/s2/p1 relu conv3-2 gap"


# -- the word and the hyperparameters -----------------------------------------------------------

def test_word_and_suffixes_build_the_layer():
    layer = v.build_model("deconv3-8/s2/p1/op1/d1/g2/nobias fc2", input_shape=(4, 5, 5))[0]
    assert isinstance(layer, ConvTranspose2D)
    assert (layer.filters, layer.size, layer.strides, layer.pads, layer.output_pads, layer.groups, layer.bias) == (
        8, 3, (2, 2), (1, 1), (1, 1), 2, False)
    # (W − 1)·S − 2P + F + op = 4·2 − 2 + 3 + 1
    assert layer.output_shape((4, 5, 5)) == (8, 10, 10)
    assert v.build_model("deconv3-32", input_shape=(2, 4, 4))[0].output_shape((2, 4, 4)) == (32, 6, 6)


@pytest.mark.parametrize("spec,message", [
    ("deconv3-8/x2", r"'/x2' is not a suffix of 'deconv3-8'; it takes /s<n> \(stride\), /p<n> \(pad\), "
                     r"/op<n> \(output padding\), /d<n> \(dilation\), /g<n> \(groups\), /nobias \(no bias\)"),
    ("deconv3-8/s0", r"the stride in '/s0' must be at least 1"),
    ("deconv0-8", r"filter size F"),
    ("deconv3-8/s2/op2", r"output_pad 2 along the height must be smaller than max\(stride, dilation\) = max\(2, 1\)"),
    ("deconv3-8/p3", r"'deconv3-8/p3' at position 1: ConvTranspose2D \(filters=8, pad=3\) does not fit its 2×2×4 "
                     r"input: .* = −2, but the output needs at least 1 pixel; use a smaller pad \(at most 1\)"),
])
def test_word_errors_name_the_word_and_the_rule(spec, message):
    with pytest.raises(ValueError, match=message):
        v.build_model(f"{spec} fc2", input_shape=(4, 2, 2))


def test_hyperparameter_and_input_errors():
    with pytest.raises(ValueError, match=r"filters ≥ 1 and divisible by groups, got filters=5, groups=2"):
        ConvTranspose2D(5, groups=2)
    with pytest.raises(ValueError, match=r"output_pad 1 along the width must be smaller than max\(stride, dilation\)"):
        ConvTranspose2D(4, stride=(2, 1), output_pad=(1, 1))
    layer = ConvTranspose2D(4, 3, in_depth=3)
    with pytest.raises(ValueError, match=r"filters for inputs of depth 3 but its input has depth 1"):
        layer.forward(np.zeros((2, 1, 4, 4), np.float32))
    with pytest.raises(ValueError, match=r"input depth 3 is not divisible by groups=2"):
        ConvTranspose2D(4, groups=2).forward(np.zeros((1, 3, 4, 4), np.float32))


# -- what the layer says it is ------------------------------------------------------------------

def test_cost_summary_row_and_diagram_words():
    model = v.build_model(DECODER, input_shape=(1, 8, 8))
    deconv = model[2]
    cost = deconv.cost((4, 4, 4), (3, 8, 8))
    # D·K·F·F weights + K biases; every input number meets K·F·F taps
    assert cost.parameters == 4 * 3 * 4 * 4 + 3 == deconv.weight.data.size + deconv.bias.data.size
    assert cost.multiply_adds == 4 * 4 * 4 * 3 * 4 * 4 and cost.activations == 3 * 8 * 8
    row = summary_rows(model)[3]
    assert row.layer == "ConvTranspose2D(filters=3, size=4, stride=2, pad=1)"
    assert (row.input_shape, row.output_shape) == ((4, 4, 4), (3, 8, 8))
    assert (row.parameters, row.multiply_adds, row.activations) == (cost.parameters, cost.multiply_adds, 192)
    assert "ConvTranspose2D(filters=3, size=4, stride=2, pad=1)" in summary(model)
    volumes = model_volumes(model)
    # a box of its own, relu written on its arrow
    assert volumes[2].layers == ["3: deconv 4×4, 3 filters, stride 2, pad 1", "4: relu"]
    assert volumes[2].shape == (3, 8, 8)


def test_the_receptive_field_grows_through_it():
    # after a 4×4 stride-2 conv (field 4, jump 2) a 4×4 stride-2 transposed conv: each output is
    # reached by ⌈4/2⌉ = 2 neighbouring inputs, so the field is (2 − 1)·2 + 4 = 6 wide, jump 1
    model = v.build_model(DECODER, input_shape=(1, 8, 8))
    row = summary_rows(model)[3]
    assert row.field.size == (6, 6) and row.field.jump == (1, 1)


# -- the gradient check, fast against reference, parity -----------------------------------------

@pytest.mark.parametrize("case", ConvTranspose2D.gradient_cases(), ids=lambda case: case.name)
def test_gradients_in_float64(case):
    layer = case.make().to(np.float64)
    assert_gradients_close(check_layer_gradients(layer, case.x.copy()))


def test_the_layer_runs_the_fast_op_equal_to_the_reference():
    layer = ConvTranspose2D(3, (3, 2), stride=(2, 3), pad=(1, 0), output_pad=(1, 2), dilation=(1, 2))
    x = volume((2, 2, 4, 3)).astype(np.float64)
    layer.to(np.float64)
    out = layer.forward(x)
    reference, _ = conv_transpose2d_forward_reference(x, layer.weight.data, layer.bias.data, layer.strides,
                                                      layer.pads, layer.output_pads, layer.dilations)
    np.testing.assert_allclose(out, reference, rtol=1e-12, atol=1e-12)


def test_the_algorithm_is_chosen_by_name_and_shown_after_a_forward():
    layer = ConvTranspose2D(4, 3, stride=2, pad=1)
    x = volume((2, 3, 5, 5))
    assert layer.last_algorithm is None
    out = layer.forward(x)
    assert layer.last_algorithm == "im2col"  # the policy's choice for a stride-2 layer
    layer.algorithm = "reference"
    np.testing.assert_allclose(layer.forward(x), out, **TOLERANCE)
    assert layer.last_algorithm == "reference" and layer.cache.algorithm == "reference"
    layer.algorithm = "winograd"
    with pytest.raises(ValueError, match=r"conv2d algorithm 'winograd' cannot compute this convolution"):
        layer.forward(x)


@needs_torch
@pytest.mark.parametrize("spec, shape", [
    ("deconv3-4/s2/p1/op1", (2, 3, 5, 5)),
    ("deconv4-6/s2/p1", (2, 2, 4, 6)),
    ("deconv3-4/d2/g2/nobias", (3, 4, 4, 4)),
    ("deconv1-5/s3/op2", (2, 3, 3, 3)),
])
def test_parity_with_torch_through_the_twin(spec, shape):
    import torch

    from volnet.bench.mirror import to_torch

    model = v.build_model(spec, input_shape=shape[1:], seed=3)
    (module,) = model[0].torch_modules()
    assert module.kind == "ConvTranspose2d"
    twin = to_torch(model)
    assert isinstance(twin[0], torch.nn.ConvTranspose2d)
    x = volume(shape)
    out = model.forward(x)
    dout = np.random.default_rng(1).standard_normal(out.shape).astype(np.float32)
    dx = model.backward(dout)
    x_t = torch.tensor(x, requires_grad=True)
    out_t = twin(x_t)
    out_t.backward(torch.tensor(dout))
    np.testing.assert_allclose(out, out_t.detach().numpy(), **TOLERANCE)
    np.testing.assert_allclose(dx, x_t.grad.numpy(), **TOLERANCE)
    np.testing.assert_allclose(model[0].weight.grad, twin[0].weight.grad.numpy(), **TOLERANCE)


# -- behaviour: a decoder trains, saves and loads, exports ---------------------------------------

def test_a_model_with_deconv_trains_a_step():
    model = v.build_model(DECODER, input_shape=(1, 8, 8), seed=0)
    x = volume((4, 1, 8, 8))
    labels = np.array([0, 1, 0, 1])
    loss_layer = v.SoftmaxCrossEntropy()
    optimizer = SGD(model.parameters(), lr=0.1)
    before = model[2].weight.data.copy()
    losses = []
    for _ in range(5):
        model.zero_grad()
        loss, dscores = loss_layer(model.forward(x), labels)
        losses.append(loss)
        model.backward(dscores)
        optimizer.step()
    assert not np.array_equal(model[2].weight.data, before)
    assert losses[-1] < losses[0]


def test_save_and_load_round_trip_bit_for_bit(tmp_path):
    model = v.build_model("deconv3-4/s2/p1/op1/g2 relu deconv2-2/nobias fc3", input_shape=(2, 4, 4), seed=1)
    path = tmp_path / "model.npz"
    v.save_model(path, model)
    loaded, _ = v.load_model(path)
    assert [type(layer) for layer in loaded.layers] == [type(layer) for layer in model.layers]
    assert repr(loaded[0]) == repr(model[0]) and loaded[2].bias is False
    for (name, array), (loaded_name, loaded_array) in zip(model.state().items(), loaded.state().items()):
        assert name == loaded_name
        np.testing.assert_array_equal(loaded_array, array)
    x = volume((2, 2, 4, 4))
    np.testing.assert_array_equal(loaded.forward(x), model.forward(x))


def test_exported_to_onnx_runs_the_same():
    onnxruntime = pytest.importorskip("onnxruntime")
    from volnet.interop.onnx_graph import onnx_model

    model = v.build_model("deconv3-4/s2/p1/op1 relu deconv2-3/d2/g1 fc3", input_shape=(2, 5, 5), seed=2).eval()
    session = onnxruntime.InferenceSession(onnx_model(model).SerializeToString())
    pixels = np.random.default_rng(0).uniform(0, 255, (2, 2, 5, 5)).astype(np.float32)
    scores = session.run(["scores"], {"pixels": pixels})[0]
    np.testing.assert_allclose(scores, model.forward(pixels / 255), rtol=1e-5, atol=1e-5)


def test_onnx_export_imports_back_as_the_same_layers(tmp_path):
    pytest.importorskip("onnx")
    from volnet.interop import export_onnx, import_onnx

    model = v.build_model("deconv3-4/s2/p1/op1 relu deconv2-3/d2/g1/nobias fc3", input_shape=(2, 5, 5), seed=2).eval()
    path = tmp_path / "decoder.onnx"
    export_onnx(model, path)
    back, _ = import_onnx(path)
    assert [repr(layer) for layer in back.layers] == [repr(layer) for layer in model.layers]
    x = np.random.default_rng(1).standard_normal((2, 2, 5, 5)).astype(np.float32)
    np.testing.assert_allclose(back.forward(x), model.forward(x), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("arch", ["deconv3-2/s2", "deconv4-2/s2/p1", "deconv3-2/s3/p1/op1 conv3-2/p0 deconv2-2/s2",
                                  "conv4-2/s2/p1 deconv4-2/s2/p1", "deconv3-2/s2 relu conv3-2", "deconv2-2/s2/d2"])
def test_the_receptive_field_holds_every_input_that_reaches_a_neuron(arch):
    # with positive weights nothing cancels: the inputs with a nonzero gradient of output (o, o)
    # are exactly those it sees. The field's span must hold them all, and for one transposed
    # convolution on the input it is exactly them.
    from volnet.viz.receptive_field import receptive_field_regions

    model = v.build_model(arch, input_shape=(1, 8, 8), seed=0)
    for parameter in model.parameters().values():
        parameter.data[...] = np.abs(parameter.data) + 0.1
    out = model.forward(np.ones((1, 1, 8, 8)))
    for o in range(out.shape[2]):
        dout = np.zeros_like(out)
        dout[0, 0, o, o] = 1
        model.zero_grad()
        rows = np.nonzero(np.abs(model.backward(dout)[0, 0]).sum(axis=1))[0]
        if not len(rows):  # dilated taps skip some outputs: no input reaches them
            continue
        first, last = receptive_field_regions(model, None, (o, o))[0].rows
        assert first <= rows.min() and rows.max() <= last, (o, rows, first, last)
        if len(model.layers) == 1:
            assert (first, last) == (rows.min(), rows.max())

