import numpy as np
import pytest

from volnet.layers import (AvgPool2D, BatchNorm, Conv2D, Dropout, Flatten, GlobalAvgPool2D, LeakyReLU, Linear,
                           MaxPool2D, ReLU, Residual, Sequential, Sigmoid, Tanh)
from volnet.models import build_model, parse_architecture


def caret_column(message: str) -> tuple[int, int]:
    # the (start, length) of the caret run under the quoted string, in the string's own columns
    line = next(line for line in message.splitlines() if line.strip() and set(line.strip()) == {"^"})
    start = len(line) - len(line.lstrip()) - 2  # the string is indented by two spaces
    return start, len(line.strip())


def test_notes_pattern_parses_into_layers_and_shapes():
    # INPUT -> [[CONV -> RELU]*2 -> POOL]*2 -> FC -> RELU -> FC on a 32×32×3 input
    text = "[conv3-32 relu]*2 pool [conv3-64 relu]*2 pool fc128 relu fc10"
    layers = parse_architecture(text, input_shape=(3, 32, 32))
    assert [type(layer) for layer in layers] == [Conv2D, ReLU, Conv2D, ReLU, MaxPool2D, Conv2D, ReLU, Conv2D, ReLU,
                                                 MaxPool2D, Linear, ReLU, Linear]
    shapes = Sequential(layers).output_shapes((3, 32, 32))
    assert shapes[:5] == [(32, 32, 32)] * 4 + [(32, 16, 16)]
    assert shapes[9] == (64, 8, 8)
    assert shapes[-1] == (10,)
    assert layers[0].pads == (1, 1) and layers[0].strides == (1, 1) and layers[4].window == (2, 2)


def test_repetitions_make_fresh_layers_and_nest():
    layers = parse_architecture("[[conv3-8 relu]*2 pool]*3 fc10")
    assert len(layers) == 3 * 5 + 1
    assert len({id(layer) for layer in layers}) == len(layers)
    model = build_model("[[conv3-8 relu]*2 pool]*3 fc10", input_shape=(1, 32, 32))
    assert model.output_shapes((1, 32, 32))[-2] == (8, 4, 4)
    weights = [layer.weight.data for layer in model.layers if isinstance(layer, Conv2D)]
    assert not np.array_equal(weights[1], weights[2])  # each repetition has its own parameters


def test_a_single_word_repeats_and_arrows_are_ignored():
    layers = parse_architecture("conv3-4*3 -> relu -> fc2")
    assert [type(layer) for layer in layers] == [Conv2D, Conv2D, Conv2D, ReLU, Linear]


def test_conv_suffixes():
    conv = parse_architecture("conv5-32/s2/p0/d2/g4/nobias")[0]
    assert (conv.filters, conv.window, conv.strides, conv.pads, conv.dilations, conv.groups) == (
        32, (5, 5), (2, 2), (0, 0), (2, 2), 4)
    assert conv.bias is False
    assert parse_architecture("conv1-8")[0].pads == (0, 0)  # "same" for a 1×1 filter is no padding


def test_every_word():
    layers = parse_architecture("pool3/s2 avgpool avgpool4/p1 gap fc7/nobias flatten relu lrelu lrelu0.2 "
                                "sigmoid tanh bn dropout dropout0.25 POOL")
    kinds = [MaxPool2D, AvgPool2D, AvgPool2D, GlobalAvgPool2D, Linear, Flatten, ReLU, LeakyReLU, LeakyReLU, Sigmoid,
             Tanh, BatchNorm, Dropout, Dropout, MaxPool2D]
    assert [type(layer) for layer in layers] == kinds
    assert layers[0].window == (3, 3) and layers[0].strides == (2, 2)
    assert layers[1].window == (2, 2) and layers[1].strides == (2, 2)
    assert layers[2].window == (4, 4) and layers[2].pads == (1, 1)
    assert layers[4].units == 7 and layers[4].bias is False
    assert layers[7].slope == 0.01 and layers[8].slope == 0.2
    assert layers[12].rate == 0.5 and layers[13].rate == 0.25


def test_dropout_seeds_follow_the_model_seed():
    def seeds(seed):
        layers = parse_architecture("dropout fc4 dropout", seed=seed)
        return [layer.seed for layer in layers if isinstance(layer, Dropout)]
    assert seeds(3) == seeds(3) and seeds(3) != seeds(4)
    assert seeds(None) == [None, None]


def test_residual_identity_shortcut():
    model = build_model("conv3-8 res[conv3-8 relu conv3-8] relu", input_shape=(3, 8, 8))
    block = model.layers[1]
    assert isinstance(block, Residual) and block.projection is None
    assert model.forward(np.ones((2, 3, 8, 8), np.float32)).shape == (2, 8, 8, 8)


def test_residual_projection_for_a_new_depth_with_bn():
    model = build_model("conv3-8 res[conv3-16 bn relu conv3-16 bn]", input_shape=(3, 8, 8))
    projection = model.layers[1].projection
    assert isinstance(projection, Sequential)
    conv, norm = projection.layers
    assert isinstance(norm, BatchNorm)
    assert (conv.filters, conv.window, conv.strides, conv.bias) == (16, (1, 1), (1, 1), False)
    assert model.forward(np.ones((2, 3, 8, 8), np.float32)).shape == (2, 16, 8, 8)


@pytest.mark.parametrize("text, size, window, stride", [
    ("res[conv3-16/s2/p1 relu]", 15, 1, 2),   # (15 − 1)/2 + 1 = 8: a 1×1 window fits
    ("res[conv3-16 pool]", 16, 2, 2),         # (16 − 1)/2 is not whole: a 2×2 window with stride 2
])
def test_residual_projection_matches_a_smaller_volume(text, size, window, stride):
    model = build_model(text, input_shape=(4, size, size))
    projection = model.layers[0].projection
    assert isinstance(projection, Conv2D) and projection.bias  # no bn in the body: a conv with bias
    assert projection.window == (window, window) and projection.strides == (stride, stride)
    out = model.forward(np.zeros((1, 4, size, size), np.float32))
    assert out.shape == (1, 16, size // 2 + size % 2, size // 2 + size % 2)


def test_repeated_residual_blocks():
    model = build_model("conv3-8 res[conv3-8 bn relu]*3 gap fc2", input_shape=(1, 6, 6))
    blocks = [layer for layer in model.layers if isinstance(layer, Residual)]
    assert len(blocks) == 3 and all(block.projection is None for block in blocks)


def test_build_model_uses_seed_and_dtype():
    first = build_model("conv3-4 fc3", (1, 5, 5), seed=1, dtype=np.float64)
    again = build_model("conv3-4 fc3", (1, 5, 5), seed=1, dtype=np.float64)
    other = build_model("conv3-4 fc3", (1, 5, 5), seed=2, dtype=np.float64)
    assert first.layers[0].weight.data.dtype == np.float64
    assert np.array_equal(first.layers[0].weight.data, again.layers[0].weight.data)
    assert not np.array_equal(first.layers[0].weight.data, other.layers[0].weight.data)


@pytest.mark.parametrize("text, word, pattern", [
    ("[conv3-32 relu]*2 conf3-32 fc10", "conf3-32", r"unknown word 'conf3-32' at position 19; did you mean 'conv3-32'"),
    ("conv3-8 rleu", "rleu", r"did you mean 'relu'"),
    ("conv3-8 relu pool2x fc10", "pool2x", r"'pool2x' at position 14 is not a well-formed pool word; write pool, "),
    ("conv3 relu", "conv3", r"not a well-formed conv word; write conv<F>-<K>"),
    ("relu pool0", "pool0", r"'pool0' at position 6: the window size F must be at least 1, got 0"),
    ("fc0", "fc0", r"the number of outputs N must be at least 1, got 0; write fc<N>, e.g. fc10"),
    ("conv3-0", "conv3-0", r"the number of filters K must be at least 1, got 0"),
    ("conv0-8", "conv0-8", r"the filter size F must be at least 1, got 0"),
    ("conv3-8/s0", "conv3-8/s0", r"the stride in '/s0' must be at least 1"),
    ("conv3-8/x2 relu", "conv3-8/x2", r"'/x2' is not a suffix of 'conv3-8'; it takes /s<n> \(stride\)"),
    ("fc10/s2", "fc10/s2", r"'/s2' is not a suffix of 'fc10'"),
    ("conv3-8/s2/s3", "conv3-8/s2/s3", r"suffix '/s' is given twice"),
    ("conv3-8/nobias2", "conv3-8/nobias2", r"not a suffix"),
    ("relu dropout1.5", "dropout1.5", r"Dropout rate must be in \[0, 1\)"),
    ("conv4-8", "conv4-8", r'pad="same" needs an odd filter size'),
])
def test_word_errors_point_at_the_word(text, word, pattern):
    with pytest.raises(ValueError, match=pattern) as caught:
        parse_architecture(text)
    assert caret_column(str(caught.value)) == (text.index(word), len(word))
    assert text in str(caught.value)


@pytest.mark.parametrize("text, column, length, pattern", [
    ("conv3-8 relu]", 12, 1, r"'\]' at position 13 has no matching '\['"),
    ("[conv3-8 [relu]", 0, 1, r"'\[' at position 1 is never closed; add a '\]'"),
    ("res[conv3-8", 0, 4, r"'res\[' at position 1 is never closed"),
    ("*2 relu", 0, 2, r"repeats nothing"),
    ("[relu]*0", 6, 2, r"a repetition needs a count ≥ 1"),
    ("[relu]* fc2", 6, 1, r"a repetition needs a count ≥ 1"),
    ("conv3-8 [] fc2", 8, 2, r"empty brackets at position 9"),
])
def test_grammar_errors_point_at_the_bracket(text, column, length, pattern):
    with pytest.raises(ValueError, match=pattern) as caught:
        parse_architecture(text)
    assert caret_column(str(caught.value)) == (column, length)


def test_empty_or_non_string_architecture():
    with pytest.raises(ValueError, match="empty"):
        parse_architecture("  ")
    with pytest.raises(TypeError, match="architecture is a string"):
        parse_architecture(["conv3-8"])


def test_shape_error_is_the_layers_own_message_pointing_at_its_word():
    text = "conv3-8 pool conv7-8/p0 fc10"
    with pytest.raises(ValueError) as caught:
        parse_architecture(text, input_shape=(1, 10, 10))
    message = str(caught.value)
    assert "'conv7-8/p0' at position 14" in message
    assert "larger than the padded input" in message  # from volnet.ops.geometry
    assert caret_column(message) == (13, len("conv7-8/p0"))


def test_shape_error_in_a_repetition_says_which_one():
    text = "[conv3-8 pool]*4 fc10"
    with pytest.raises(ValueError, match=r"(?s)'pool' at position 10 \(in repetition 3 of 4 of the brackets at "
                                         r"position 1\): MaxPool2D .* 1.5 is not a whole number") as caught:
        build_model(text, input_shape=(1, 12, 12))
    assert caret_column(str(caught.value)) == (9, 4)


def test_a_volume_layer_after_a_vector_points_at_it():
    with pytest.raises(ValueError, match=r"'conv3-8' at position 6: Conv2D .* wants each example to be a volume"):
        build_model("fc10 conv3-8", input_shape=(1, 4, 4))


def test_residual_errors():
    with pytest.raises(ValueError, match=r"res\[\.\.\.\] at position 9 needs the input shape") as caught:
        parse_architecture("conv3-8 res[conv3-8]")
    assert caret_column(str(caught.value)) == (8, len("res[conv3-8]"))
    with pytest.raises(ValueError, match=r"turns 8×8×1 into 4; a shortcut can only project a volume onto a volume"):
        build_model("res[conv3-4 gap]", input_shape=(1, 8, 8))
    with pytest.raises(ValueError, match=r"turns 8×8×1 into 3×3×1; no strided window maps 8 onto 3"):
        build_model("res[pool4/s2]", input_shape=(1, 8, 8))


def test_build_model_needs_an_input_shape_and_knows_presets():
    with pytest.raises(ValueError, match=r"build_model needs input_shape"):
        build_model("conv3-8 fc10")
    with pytest.raises(ValueError, match=r"unknown preset 'tinny' \(did you mean 'tiny'\?\)"):
        build_model("tinny")
    assert build_model(" Tiny ").input_shape == (1, 28, 28)
