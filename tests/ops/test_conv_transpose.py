import functools
import math

import numpy as np
import pytest
import torch

from tests.ops.conv_cases import CASES as CONV_CASES
from tests.ops.conv_cases import case_id
from volnet.ops.conv import conv2d_backward, conv2d_forward, conv2d_input_gradient
from volnet.ops.conv_transpose import (
    conv_transpose2d_backward,
    conv_transpose2d_backward_reference,
    conv_transpose2d_forward,
    conv_transpose2d_forward_reference,
    transposed_output_size,
)
from volnet.ops.geometry import pair
from volnet.gradients.numerical import numerical_gradient, rel_error

# every implementation of the transposed convolution: (forward, backward), checked alike: the
# scatter loops, and the fast version on each convolution algorithm that computes any case
IMPLEMENTATIONS = {
    "reference": (conv_transpose2d_forward_reference, conv_transpose2d_backward_reference),
    **{f"fast-{algorithm}": (functools.partial(conv_transpose2d_forward, algorithm=algorithm),
                             conv_transpose2d_backward) for algorithm in ("auto", "reference", "im2col")},
}

# (N, D, H, W, K, FH, FW, stride, pad, output_pad, dilation, groups), chosen by hand: the
# conv_arithmetic examples, output padding on one axis, pads that cut a filter copy in two,
# rectangular everything, N = 1, D = 1, K = 1, 1×1 filters, dilation, groups and depthwise
CASES = [
    (1, 1, 2, 2, 1, 3, 3, 1, 0, 0, 1, 1),            # no padding, unit strides: 2×2 → 4×4
    (1, 1, 3, 3, 1, 3, 3, 2, 0, 0, 1, 1),            # no padding, stride 2: 3×3 → 7×7
    (2, 1, 3, 3, 2, 3, 3, 2, 1, 0, 1, 1),            # padding and stride 2: 3×3 → 5×5
    (2, 2, 3, 3, 3, 3, 3, 2, 1, 1, 1, 1),            # output padding: 3×3 → 6×6, undoing a 6×6 conv
    (2, 3, 4, 5, 2, 3, 2, (2, 3), (1, 0), (1, 2), 1, 1),
    (1, 2, 4, 4, 2, 4, 4, 2, 1, 0, 1, 1),            # the DCGAN upsampler: F = 4, S = 2, P = 1 doubles
    (2, 3, 3, 3, 2, 3, 3, 1, 2, 0, 1, 1),            # P = F − 1: the output shrinks at stride 1
    (2, 2, 3, 4, 3, 3, 3, 1, 1, 1, 2, 1),            # dilation 2 with output padding below it
    (2, 2, 4, 3, 2, 2, 3, 3, 2, 2, (2, 1), 1),       # P > op, op < stride, dilation along the height
    (2, 4, 3, 3, 6, 3, 3, 2, 1, 1, 1, 2),            # two groups
    (2, 4, 3, 3, 4, 3, 3, 2, 0, 0, 1, 4),            # depthwise
    (1, 3, 4, 4, 2, 1, 1, 2, 0, 1, 1, 1),            # 1×1 filters spread out by the stride
    (3, 1, 1, 1, 1, 3, 3, 3, 1, 2, 1, 1),            # a single input number: op reaches beyond its copy
    (2, 16, 4, 5, 8, 3, 3, 1, 1, 0, 1, 1),           # 3×3, stride 1, deep: what "auto" gives Winograd
]


def random_cases(count, seed, output_padding=True):
    # a seeded sweep over every hyperparameter at once, keeping only valid combinations
    rng = np.random.default_rng(seed)
    cases = []
    while len(cases) < count:
        groups = int(rng.integers(1, 4))
        stride, dilation = (tuple(int(v) for v in rng.integers(1, top, size=2)) for top in (4, 3))
        filter_size = tuple(int(v) for v in rng.integers(1, 5, size=2))
        pad = tuple(int(v) for v in rng.integers(0, 3, size=2))
        output_pad = tuple(int(rng.integers(0, max(s, d))) if output_padding else 0 for s, d in zip(stride, dilation))
        height, width = (int(v) for v in rng.integers(1, 6, size=2))
        case = (int(rng.integers(1, 3)), groups * int(rng.integers(1, 3)), height, width,
                groups * int(rng.integers(1, 3)), *filter_size, stride, pad, output_pad, dilation, groups)
        try:
            transposed_output_size(height, filter_size[0], stride[0], pad[0], output_pad[0], dilation[0])
            transposed_output_size(width, filter_size[1], stride[1], pad[1], output_pad[1], dilation[1])
        except ValueError:
            continue
        cases.append(case)
    return cases


SWEEP = CASES + random_cases(30, seed=11)


def random_case(case, seed=0, dtype=np.float64, bias=True):
    n, d, h, w_, k, fh, fw, stride, pad, output_pad, dilation, groups = case
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, d, h, w_)).astype(dtype)
    w = rng.standard_normal((d, k // groups, fh, fw)).astype(dtype)
    b = rng.standard_normal(k).astype(dtype) if bias else None
    return x, w, b, dict(stride=stride, pad=pad, output_pad=output_pad, dilation=dilation, groups=groups)


def torch_transposed(x, w, b, dout, stride, pad, output_pad, dilation, groups):
    # PyTorch's out, dx, dw, db for the same numbers, in their own dtype
    xt, wt = (torch.tensor(a, requires_grad=True) for a in (x, w))
    bt = None if b is None else torch.tensor(b, requires_grad=True)
    out = torch.nn.functional.conv_transpose2d(xt, wt, bt, stride, pad, output_pad, groups, dilation)
    out.backward(torch.tensor(dout))
    return out.detach().numpy(), xt.grad.numpy(), wt.grad.numpy(), None if bt is None else bt.grad.numpy()


def assert_close(actual, expected, dtype):
    # float64: only the order of summation differs; float32: ~1e-7 relative per addition, over
    # sums of at most a few dozen terms of unit size
    tolerance = 1e-10 if dtype == np.float64 else 1e-4
    np.testing.assert_allclose(actual, expected, rtol=tolerance, atol=tolerance)


def test_all_ones_count_the_overlapping_filter_copies():
    # a 2×2 input of ones, a 3×3 filter of ones, stride 2: four copies of the filter that
    # overlap on the middle row and column (2) and in the centre (4)
    x, w = np.ones((1, 1, 2, 2)), np.ones((1, 1, 3, 3))
    counts = np.array([1, 1, 2, 1, 1], dtype=float)
    for forward, _ in IMPLEMENTATIONS.values():
        out, _ = forward(x, w, stride=2)
        np.testing.assert_array_equal(out[0, 0], np.outer(counts, counts))
        # output_pad 1 adds one row and column at the bottom and right that no copy reaches
        out, _ = forward(x, w, stride=2, output_pad=1)
        np.testing.assert_array_equal(out[0, 0], np.pad(np.outer(counts, counts), ((0, 1), (0, 1))))
        # pad 1 cuts one row and column off every side of that: off the copies at the top and
        # left, off the added zeros at the bottom and right
        out, _ = forward(x, w, stride=2, pad=1, output_pad=1)
        np.testing.assert_array_equal(out[0, 0], np.outer(counts[1:], counts[1:]))


def test_each_input_number_scatters_its_scaled_filters():
    # one non-zero input number at (i, j) leaves exactly x·w[d] at (i·S − P, j·S − P)
    rng = np.random.default_rng(3)
    w = rng.standard_normal((2, 3, 3, 3))
    for forward, _ in IMPLEMENTATIONS.values():
        x = np.zeros((1, 2, 3, 4))
        x[0, 1, 2, 1] = 2.5
        out, _ = forward(x, w, stride=2, pad=1)
        expected = np.zeros((1, 3, 7, 9))  # (H − 1)·S + F before the cut
        expected[0, :, 4:7, 2:5] = 2.5 * w[1]
        np.testing.assert_allclose(out, expected[:, :, 1:-1, 1:-1], rtol=0, atol=1e-15)


@pytest.mark.parametrize("name", IMPLEMENTATIONS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("case", SWEEP)
def test_matches_torch_forward_and_backward(case, dtype, name):
    forward, backward = IMPLEMENTATIONS[name]
    bias = sum(case[:7]) % 2 == 0  # about half of the cases without bias
    x, w, b, params = random_case(case, seed=case[2] * 7 + case[3], dtype=dtype, bias=bias)
    out, cache = forward(x, w, b, **params)
    dout = np.random.default_rng(1).standard_normal(out.shape).astype(dtype)
    expected = torch_transposed(x, w, b, dout, **params)
    assert out.shape == expected[0].shape and out.dtype == dtype
    for mine, theirs in zip((out, *backward(dout, cache)), expected):
        if theirs is None:
            assert mine is None
        else:
            assert mine.dtype == dtype
            assert_close(mine, theirs, dtype)


@pytest.mark.parametrize("name", IMPLEMENTATIONS)
@pytest.mark.parametrize("case", [case for case in CASES if case[1] < 16])  # the deep case would only add minutes
def test_gradients_match_centred_differences(case, name):
    forward, backward = IMPLEMENTATIONS[name]
    x, w, b, params = random_case(case, seed=5)
    out, cache = forward(x, w, b, **params)
    dout = np.random.default_rng(2).standard_normal(out.shape)
    dx, dw, db = backward(dout, cache)

    def loss():
        return math.fsum((forward(x, w, b, **params)[0] * dout).ravel())

    for analytic, value in ((dx, x), (dw, w), (db, b)):
        # volnet.gradients.numerical's float64 bound for smooth functions
        assert rel_error(analytic, numerical_gradient(loss, value)) < 1e-7


@pytest.mark.parametrize("name", IMPLEMENTATIONS)
@pytest.mark.parametrize("case", CONV_CASES, ids=case_id)
def test_undoes_the_shapes_of_every_conv_case(case, name):
    # the transposed convolution with a conv's filters, stride, pad and dilation maps the conv's
    # output shape back to its input shape: its forward is that conv's input gradient, its dx
    # that conv's forward and its dw that conv's filter gradient with x in the place of dout.
    # Output padding gives back the rows the conv's output size rounds away (op < S).
    n, d, h, w_, k, fh, fw, stride, pad, dilation, groups = case
    rng = np.random.default_rng(9)
    filters = rng.standard_normal((k, d // groups, fh, fw))
    conv_out, _ = conv2d_forward(np.zeros((n, d, h, w_)), filters, None, stride, pad, dilation, groups)
    x = rng.standard_normal(conv_out.shape)  # the transposed convolution's input: K deep
    for extra in ((0, 0), tuple(s - 1 for s in pair(stride))):
        hw = (h + extra[0], w_ + extra[1])
        forward, backward = IMPLEMENTATIONS[name]
        out, cache = forward(x, filters, stride=stride, pad=pad, output_pad=extra, dilation=dilation, groups=groups)
        assert out.shape == (n, d, *hw)
        np.testing.assert_allclose(out, conv2d_input_gradient(x, filters, hw, stride, pad, dilation, groups),
                                   rtol=1e-10, atol=1e-12)
        if extra == (0, 0):
            dout = rng.standard_normal(out.shape)
            dx, dw, _ = backward(dout, cache)
            same_conv_out, conv_cache = conv2d_forward(dout, filters, None, stride, pad, dilation, groups)
            np.testing.assert_allclose(dx, same_conv_out, rtol=1e-10, atol=1e-12)
            np.testing.assert_allclose(dw, conv2d_backward(x, conv_cache)[1], rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("case", [case for case in CASES if case[7] == 1 and case[10] == 1 and case[11] == 1
                                  and case[5] == case[6] == 3])
def test_fast_version_on_winograd(case):
    # 3×3, stride 1, undilated, ungrouped: the convolution's Winograd algorithm computes it too
    pytest.importorskip("numba")
    forward, backward = IMPLEMENTATIONS["reference"]
    x, w, b, params = random_case(case, seed=3)
    out, cache = forward(x, w, b, **params)
    fast_out, fast_cache = conv_transpose2d_forward(x, w, b, **params, algorithm="winograd")
    assert fast_cache.forward_algorithm == "winograd"
    np.testing.assert_allclose(fast_out, out, rtol=1e-10, atol=1e-12)
    dout = np.random.default_rng(6).standard_normal(out.shape)
    for fast, reference in zip(conv_transpose2d_backward(dout, fast_cache), backward(dout, cache)):
        np.testing.assert_allclose(fast, reference, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("filter_size", [3, 4, 5])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_auto_gives_a_shallow_output_of_any_filter_size_to_direct(filter_size, dtype):
    # a transposed convolution is a convolution's input gradient: "auto" asks the policy for that
    # operation, which gives layers at most DIRECT_MAX_DEPTH deep (here its 3 output depths) to direct
    pytest.importorskip("numba")
    rng = np.random.default_rng(7)
    x = rng.standard_normal((2, 8, 5, 6)).astype(dtype)
    w = rng.standard_normal((8, 3, filter_size, filter_size)).astype(dtype)
    b = rng.standard_normal(3).astype(dtype)
    out, cache = conv_transpose2d_forward(x, w, b, stride=2, pad=1)
    assert cache.forward_algorithm == "direct"
    expected, reference_cache = conv_transpose2d_forward_reference(x, w, b, stride=2, pad=1)
    tolerance = dict(rtol=1e-4, atol=1e-5) if dtype == np.float32 else dict(rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(out, expected, **tolerance)
    dout = rng.standard_normal(out.shape).astype(dtype)
    for fast, reference in zip(conv_transpose2d_backward(dout, cache),
                               conv_transpose2d_backward_reference(dout, reference_cache)):
        np.testing.assert_allclose(fast, reference, **tolerance)


def test_fast_backward_without_the_input_gradient():
    x, w, b, params = random_case(CASES[3], seed=1)
    out, cache = conv_transpose2d_forward(x, w, b, **params)
    dout = np.ones_like(out)
    dx, dw, db = conv_transpose2d_backward(dout, cache, input_gradient=False)
    assert dx is None
    reference = conv_transpose2d_backward_reference(dout, cache)
    np.testing.assert_allclose(dw, reference[1], rtol=1e-10)
    np.testing.assert_allclose(db, reference[2], rtol=1e-10)


def test_output_size_formula():
    # OW = (W − 1)·S − 2P + dil·(F − 1) + op + 1: the input size of the conv2d it undoes
    assert transposed_output_size(3, 3, stride=2) == 7
    assert transposed_output_size(3, 3, stride=2, pad=1) == 5
    assert transposed_output_size(3, 3, stride=2, pad=1, output_pad=1) == 6
    assert transposed_output_size(16, 4, stride=2, pad=1) == 32
    assert transposed_output_size(4, 3, dilation=2) == 8


@pytest.mark.parametrize("kwargs,message", [
    (dict(stride=2, output_pad=2), r"output_pad 2 along the height must be smaller than max\(stride, dilation\) "
                                   r"= max\(2, 1\).*output_pad ≤ 1"),
    (dict(stride=(1, 2), output_pad=(0, 1), dilation=(1, 1)), None),
    (dict(output_pad=(0, 1)), r"output_pad 1 along the width must be smaller than max\(stride, dilation\) "
                              r"= max\(1, 1\)"),
    (dict(pad=4), r"\(3 − 1\)·1 − 2·4 \+ 1·\(3 − 1\) \+ 0 \+ 1 = −3.*at least 1 pixel.*at most 2"),
    (dict(groups=3), r"groups=3 must divide the input depth D=4"),
    (dict(groups=0), r"groups must be a whole number ≥ 1, got 0"),
    (dict(stride=0), r"stride must be at least 1, got 0"),
    (dict(pad=-1), r"pad must be at least 0, got -1"),
    (dict(dilation=(1, 0)), r"dilation must be at least 1"),
])
def test_errors_name_the_numbers_and_the_rule(kwargs, message):
    x, w = np.ones((1, 4, 3, 3)), np.ones((4, 2, 3, 3))
    if message is None:
        conv_transpose2d_forward_reference(x, w, **kwargs)  # op 1 < S 2 along the width is allowed
        return
    with pytest.raises(ValueError, match=message):
        conv_transpose2d_forward_reference(x, w, **kwargs)


def test_errors_on_the_filter_layout():
    x = np.ones((1, 4, 3, 3))
    with pytest.raises(ValueError, match=r"w \(D, K/G, FH, FW\) = \(2, 4, 3, 3\) needs one stack of filters per "
                                         r"input depth slice, D = 4"):
        conv_transpose2d_forward_reference(x, np.ones((2, 4, 3, 3)))
    with pytest.raises(ValueError, match=r"wants x \(N, D, H, W\) and w \(D, K/G, FH, FW\)"):
        conv_transpose2d_forward_reference(x[0], np.ones((4, 1, 3, 3)))
    with pytest.raises(TypeError, match=r"stride must be a whole number"):
        conv_transpose2d_forward_reference(x, np.ones((4, 1, 3, 3)), stride=1.5)
