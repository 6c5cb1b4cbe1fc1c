"""Conv2D: the output-size rule and its errors, the layer's hyperparameter checks, what the layer
says it is (word, cost, sharing, drawing, twin), and parity with torch.nn.functional.conv2d."""

import numpy as np
import pytest

import volnet as v
from tests.layers.cases import F, compare, needs_torch, tensor, volume


def batch(*shape, dtype=np.float32):
    return np.zeros(shape, dtype=dtype)


# -- the output-size rule and shape errors -------------------------------------------------------

def test_output_size_rule_is_public():
    assert v.output_size(32, 5, stride=1, pad=2) == 32
    assert v.output_size(7, 3, stride=2, pad=0) == 3
    with pytest.raises(ValueError, match=r"\(W − F \+ 2P\)/S \+ 1 = \(10 − 3 \+ 0\)/2 \+ 1 = 4.5 is not a whole number"):
        v.output_size(10, 3, stride=2)


def test_non_integer_output_names_layer_formula_and_fixes():
    model = v.Sequential([v.Conv2D(8, 3, pad=1), v.Conv2D(8, 3, stride=3)])
    with pytest.raises(ValueError) as error:
        model.forward(batch(1, 3, 10, 10))
    message = str(error.value)
    assert "Conv2D #2 (filters=8, stride=3)" in message
    assert "10×10×8 input" in message
    assert "(10 − 3 + 0)/3 + 1 = 3.33333 is not a whole number" in message
    assert "Try pad=1 (→ 4×4×8)" in message and "stride=1 (→ 8×8×8)" in message


def test_filter_larger_than_padded_input():
    with pytest.raises(ValueError, match=r"(?s)Conv2D #1 .*the filter \(7\) is larger than the padded input: W \+ 2P = 4 \+ 2·1 = 6"):
        v.Sequential([v.Conv2D(2, 7, pad=1)]).forward(batch(1, 1, 4, 4))


def test_depth_not_matching_the_filters():
    conv = v.Conv2D(4, 3, in_depth=3)
    with pytest.raises(ValueError, match="filters of depth 3 but its input has depth 1: a filter always extends"):
        conv.forward(batch(2, 1, 8, 8))


def test_wrong_rank():
    with pytest.raises(ValueError, match=r"Conv2D \(filters=4\) wants each example to be a volume D×H×W.*shape \(784,\)"):
        v.Conv2D(4).forward(batch(2, 784))


def test_conv_no_longer_accepts_a_dout_of_another_size_silently():
    # a 3×3 filter without padding maps 6×6 to 4×4; a 6×6 dout used to give a wrong dx without complaint
    conv = v.Conv2D(4, 3)
    conv.forward(np.random.default_rng(0).standard_normal((2, 3, 6, 6)).astype(np.float32))
    with pytest.raises(ValueError, match=r"^Conv2D \(filters=4\): backward got dout of shape \(2, 4, 6, 6\), but "
                                         r"the last forward gave an output of shape \(2, 4, 4, 4\)"):
        conv.backward(np.ones((2, 4, 6, 6), np.float32))


# -- hyperparameters -----------------------------------------------------------------------------

def test_same_padding_needs_an_odd_filter():
    with pytest.raises(ValueError, match='pad="same" needs an odd filter size'):
        v.Conv2D(4, 2, pad="same")


def test_bad_hyperparameters():
    with pytest.raises(ValueError, match="divisible by groups"):
        v.Conv2D(5, groups=2)
    with pytest.raises(TypeError, match="stride must be a whole number"):
        v.Conv2D(4, stride=1.5)


def test_strides_must_be_positive():
    with pytest.raises(ValueError, match=r"stride must be at least 1, got \(1, 0\)"):
        v.Conv2D(4, 3, stride=(1, 0))


# -- what the layer says it is -------------------------------------------------------------------

def test_conv_word_cost_and_drawing():
    conv = v.build_model("conv3-8/s2/g2/nobias fc2", input_shape=(4, 9, 9))[0]
    assert (conv.filters, conv.size, conv.strides, conv.groups, conv.bias) == (8, 3, (2, 2), 2, False)
    output_shape = conv.output_shape((4, 9, 9))
    cost = conv.cost((4, 9, 9), output_shape)
    assert cost.parameters == conv.weight.data.size == 8 * 2 * 3 * 3
    assert cost.multiply_adds == 8 * 5 * 5 * 3 * 3 * 2 and cost.activations == 8 * 5 * 5
    assert conv.sharing((4, 9, 9), output_shape).shared == cost.parameters
    assert conv.describe() == "conv 3×3, 8 filters, stride 2, pad 1"
    (module,) = conv.torch_modules()
    assert (module.kind, module.arguments["groups"], module.arguments["bias"]) == ("Conv2d", 2, False)


# -- parity with PyTorch -------------------------------------------------------------------------

@needs_torch
@pytest.mark.parametrize("hyper, shape", [
    (dict(filters=8, size=3, pad=1), (4, 3, 10, 10)),
    (dict(filters=4, size=5, stride=2, pad=2), (2, 3, 11, 11)),
    (dict(filters=6, size=(3, 2), stride=(2, 1), pad=(1, 0)), (2, 2, 9, 8)),
    (dict(filters=4, size=3, pad=2, dilation=2), (2, 3, 8, 8)),
    (dict(filters=6, size=3, pad=1, groups=3), (2, 6, 7, 7)),
    (dict(filters=5, size=1, bias=False), (3, 4, 5, 5)),
    # 3×3 stride 1, ≥ 16 deep: Winograd F(2×2, 3×3) where numba is installed
    (dict(filters=24, size=3, pad=1), (3, 16, 9, 6)),
    (dict(filters=32, size=3, bias=False), (2, 32, 8, 8)),
])
def test_conv2d(hyper, shape):
    layer = v.Conv2D(**hyper)
    x = volume(shape)
    layer.build(shape[1:], rng=np.random.default_rng(0))
    w_t = tensor(layer.weight.data)
    b_t = tensor(layer.bias.data) if hyper.get("bias", True) else None
    params = [("weight", w_t)] + ([("bias", b_t)] if b_t is not None else [])
    compare(layer, lambda x_t: F.conv2d(x_t, w_t, b_t, layer.strides, layer.pads, layer.dilations, layer.groups), x, params)
