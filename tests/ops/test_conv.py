import numpy as np
import pytest

from volnet.ops.conv import conv2d_backward, conv2d_backward_reference, conv2d_forward, conv2d_forward_reference
from volnet.gradients.numerical import numerical_gradient, rel_error

# (N, D, H, W, K, FH, FW, stride, pad, dilation, groups): strides > 1, padding, rectangular
# filters and strides, filters as large as the padded input, N = 1, D = 1, K = 1, odd sizes,
# dilation and grouped (depthwise) convolution.
CASES = [
    (2, 3, 7, 7, 4, 3, 3, 1, 1, 1, 1),
    (2, 3, 9, 9, 4, 3, 3, 2, 1, 1, 1),
    (1, 1, 5, 5, 1, 3, 3, 2, 1, 1, 1),
    (3, 2, 9, 7, 5, 3, 2, (2, 1), (1, 0), 1, 1),
    (2, 3, 5, 5, 2, 7, 7, 1, 1, 1, 1),   # F = H + 2P: one output position
    (1, 4, 6, 6, 3, 6, 6, 1, 0, 1, 1),   # F = H, no padding
    (2, 1, 10, 13, 2, 5, 5, 3, 2, 1, 1),
    (2, 3, 9, 9, 2, 3, 3, 1, 2, 2, 1),   # dilation 2
    (2, 4, 6, 6, 6, 3, 3, 1, 1, 1, 2),   # two groups
    (2, 4, 6, 6, 4, 3, 3, 1, 1, 1, 4),   # depthwise
    (1, 2, 4, 4, 3, 1, 1, 1, 0, 1, 1),   # 1×1 filters
]


def random_case(case, seed=0, dtype=np.float64):
    n, d, h, w_, k, fh, fw, stride, pad, dilation, groups = case
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, d, h, w_)).astype(dtype)
    w = rng.standard_normal((k, d // groups, fh, fw)).astype(dtype)
    b = rng.standard_normal(k).astype(dtype)
    return x, w, b, dict(stride=stride, pad=pad, dilation=dilation, groups=groups)


def test_all_ones_counts_corners_edges_and_centre():
    # a 3×3 filter of ones over a 4×4 input of ones, pad 1: each output counts the real
    # (non-padding) inputs in its receptive field: 4 at corners, 6 on edges, 9 inside
    x = np.ones((1, 1, 4, 4))
    w = np.ones((1, 1, 3, 3))
    expected = np.array([[4, 6, 6, 4], [6, 9, 9, 6], [6, 9, 9, 6], [4, 6, 6, 4]], dtype=float)
    for forward in (conv2d_forward_reference, conv2d_forward):
        out, _ = forward(x, w, np.zeros(1), stride=1, pad=1)
        np.testing.assert_array_equal(out[0, 0], expected)


def test_depth_and_bias_add_up():
    # the notes' rule: the filter spans the full depth, so depth 3 triples the count; bias adds once
    x = np.ones((1, 3, 3, 3))
    w = np.ones((2, 3, 3, 3))
    out, _ = conv2d_forward(x, w, np.array([0.5, -1.0]))
    np.testing.assert_array_equal(out.reshape(2), [27.5, 26.0])


def test_stride_two_picks_every_other_position():
    x = np.arange(25, dtype=float).reshape(1, 1, 5, 5)
    w = np.zeros((1, 1, 1, 1))
    w[0, 0, 0, 0] = 1
    out, _ = conv2d_forward(x, w, None, stride=2)
    np.testing.assert_array_equal(out[0, 0], x[0, 0, ::2, ::2])


@pytest.mark.parametrize("case", CASES)
def test_matrix_forward_and_backward_match_reference(case):
    # float64 agreement to ~1e-12 means the two differ only in summation order
    x, w, b, hyper = random_case(case)
    out_fast, cache_fast = conv2d_forward(x, w, b, **hyper)
    out_ref, cache_ref = conv2d_forward_reference(x, w, b, **hyper)
    np.testing.assert_allclose(out_fast, out_ref, rtol=1e-10, atol=1e-12)
    dout = np.random.default_rng(1).standard_normal(out_ref.shape)
    for fast, ref in zip(conv2d_backward(dout, cache_fast), conv2d_backward_reference(dout, cache_ref)):
        np.testing.assert_allclose(fast, ref, rtol=1e-10, atol=1e-12)


def test_without_bias_db_is_none():
    x, w, _, hyper = random_case(CASES[0])
    out, cache = conv2d_forward(x, w, None, **hyper)
    _, _, db = conv2d_backward(np.ones_like(out), cache)
    assert db is None


@pytest.mark.parametrize("case", [CASES[1], CASES[3], CASES[7], CASES[8]])
def test_reference_backward_matches_numerical_gradient(case):
    # the reference itself is checked against centred differences, so both versions are anchored
    x, w, b, hyper = random_case(case, seed=2)
    out, cache = conv2d_forward_reference(x, w, b, **hyper)
    dout = np.random.default_rng(3).standard_normal(out.shape)
    dx, dw, db = conv2d_backward_reference(dout, cache)

    def loss():
        return float(np.sum(conv2d_forward_reference(x, w, b, **hyper)[0] * dout))

    for analytic, value in ((dx, x), (dw, w), (db, b)):
        assert rel_error(analytic, numerical_gradient(loss, value)) < 1e-7


def test_float32_stays_float32():
    x, w, b, hyper = random_case(CASES[1], dtype=np.float32)
    out, cache = conv2d_forward(x, w, b, **hyper)
    dx, dw, db = conv2d_backward(np.ones_like(out), cache)
    assert {a.dtype for a in (out, dx, dw, db)} == {np.dtype(np.float32)}


def test_depth_mismatch_is_a_clear_error():
    with pytest.raises(ValueError, match="input depth 3 .* filters of depth 3/1"):
        conv2d_forward(np.zeros((1, 3, 5, 5)), np.zeros((2, 4, 3, 3)))
