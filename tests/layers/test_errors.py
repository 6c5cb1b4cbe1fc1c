import numpy as np
import pytest

import volnet as v


def batch(*shape, dtype=np.float32):
    return np.zeros(shape, dtype=dtype)


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


def test_pool_window_does_not_fit():
    with pytest.raises(ValueError, match=r"(?s)MaxPool2D #3 does not fit its 7×7×4 input.*\(7 − 2 \+ 0\)/2 \+ 1 = 3.5"):
        v.Sequential([v.Conv2D(4, 3, pad=1), v.ReLU(), v.MaxPool2D()], input_shape=(1, 7, 7))


def test_depth_not_matching_the_filters():
    conv = v.Conv2D(4, 3, in_depth=3)
    with pytest.raises(ValueError, match="filters of depth 3 but its input has depth 1: a filter always extends"):
        conv.forward(batch(2, 1, 8, 8))


def test_wrong_rank():
    with pytest.raises(ValueError, match=r"Conv2D \(filters=4\) wants each example to be a volume D×H×W.*shape \(784,\)"):
        v.Conv2D(4).forward(batch(2, 784))


def test_integer_input_is_a_type_error():
    with pytest.raises(TypeError, match="floating-point numbers .* got dtype uint8. Convert first"):
        v.ReLU().forward(batch(2, 1, 4, 4, dtype=np.uint8))


def test_not_an_array():
    with pytest.raises(TypeError, match="wants a NumPy array, got list"):
        v.ReLU().forward([[1.0, 2.0]])


def test_empty_batch():
    with pytest.raises(ValueError, match="empty batch"):
        v.Conv2D(4).forward(batch(0, 3, 8, 8))


def test_linear_with_the_wrong_number_of_inputs():
    with pytest.raises(ValueError, match=r"Linear \(units=10\) has weights for 100 inputs but each example has 64"):
        v.Linear(10, in_features=100).forward(batch(2, 4, 4, 4))


def test_residual_shapes_must_match():
    block = v.Residual([v.Conv2D(8, 3, pad=1)])
    with pytest.raises(ValueError, match=r"body turns 6×6×3 into 6×6×8 but the shortcut gives 6×6×3.*Add a projection"):
        block.forward(batch(1, 3, 6, 6))


def test_same_padding_needs_an_odd_filter():
    with pytest.raises(ValueError, match='pad="same" needs an odd filter size'):
        v.Conv2D(4, 2, pad="same")


def test_bad_hyperparameters():
    with pytest.raises(ValueError, match="divisible by groups"):
        v.Conv2D(5, groups=2)
    with pytest.raises(ValueError, match=r"Dropout rate must be in \[0, 1\)"):
        v.Dropout(1.0)
    with pytest.raises(TypeError, match="stride must be a whole number"):
        v.Conv2D(4, stride=1.5)
    with pytest.raises(TypeError, match="Sequential takes layers, got str"):
        v.Sequential([v.ReLU(), "relu"])


def test_labels_checked_by_losses():
    scores = np.zeros((3, 4), np.float32)
    with pytest.raises(ValueError, match=r"labels must be in \[0, 4\) for 4 classes, got values from 0 to 7"):
        v.SoftmaxCrossEntropy()(scores, np.array([0, 7, 1]))
    with pytest.raises(ValueError, match=r"labels must be \(N,\) = \(3,\)"):
        v.SVMLoss()(scores, np.array([0, 1]))
    with pytest.raises(TypeError, match="whole class indices"):
        v.SoftmaxCrossEntropy()(scores, np.array([0.0, 1.0, 2.0]))


def test_sizes_and_strides_must_be_positive():
    with pytest.raises(ValueError, match="size must be at least 1, got 0"):
        v.MaxPool2D(0)
    with pytest.raises(ValueError, match=r"stride must be at least 1, got \(1, 0\)"):
        v.Conv2D(4, 3, stride=(1, 0))
    with pytest.raises(ValueError, match="pad must be at least 0, got -1"):
        v.AvgPool2D(2, pad=-1)
