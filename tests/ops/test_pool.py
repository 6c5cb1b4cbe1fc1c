# Pooling (volnet/ops/pool.py): hand-computed answers, the strided version against the
# reference loops over sweeps, in both memory layouts and with tiny chunks, and PyTorch.
import numpy as np
import pytest

from tests.ops.layouts import LAYOUTS, channel_last
from volnet.ops.layout import is_channel_last
from volnet.ops.pool import (global_avgpool_backward, global_avgpool_forward, pool2d_backward,
                             pool2d_backward_reference, pool2d_forward, pool2d_forward_reference)

# (N, D, H, W, window, stride, pad)
CASES = [
    (2, 3, 8, 8, 2, 2, 0),
    (1, 1, 4, 4, 2, 2, 0),
    (2, 2, 7, 7, 3, 2, 1),
    (2, 3, 9, 6, (3, 2), (2, 2), 0),
    (1, 2, 5, 5, 3, 1, 0),       # overlapping windows
    (2, 1, 6, 6, 6, 6, 0),       # one window covers everything
    (3, 2, 6, 8, 2, (2, 3), (1, 0)),
    (2, 3, 8, 8, 2, 3, 0),       # stride 3: rows 2 and 5 are in no window
]


def distinct_values(shape, seed=0):
    # a shuffled ramp: no ties, so every window has a single maximum
    count = int(np.prod(shape))
    return np.random.default_rng(seed).permutation(count).reshape(shape).astype(np.float64) / count


def test_max_pool_hand_computed():
    x = np.array([[1, 1, 2, 4], [5, 6, 7, 8], [3, 2, 1, 0], [1, 2, 3, 4]], dtype=float).reshape(1, 1, 4, 4)
    for forward in (pool2d_forward_reference, pool2d_forward):
        out, _ = forward(x, 2, 2, mode="max")
        np.testing.assert_array_equal(out[0, 0], [[6, 8], [3, 4]])


def test_max_pool_backward_routes_to_the_winner_only():
    # the notes' 2×2 stride 2 case: 3 of every 4 inputs get no gradient
    x = np.array([[1, 1, 2, 4], [5, 6, 7, 8], [3, 2, 1, 0], [1, 2, 3, 4]], dtype=float).reshape(1, 1, 4, 4)
    out, cache = pool2d_forward(x, 2, 2, mode="max")
    dx = pool2d_backward(np.array([[[[10.0, 20.0], [30.0, 40.0]]]]), cache)
    expected = np.zeros((4, 4))
    expected[1, 1], expected[1, 3], expected[2, 0], expected[3, 3] = 10, 20, 30, 40
    np.testing.assert_array_equal(dx[0, 0], expected)
    assert np.count_nonzero(dx) == dx.size // 4


def test_avg_pool_backward_spreads_evenly():
    x = np.arange(16, dtype=float).reshape(1, 1, 4, 4)
    out, cache = pool2d_forward(x, 2, 2, mode="avg")
    np.testing.assert_array_equal(out[0, 0], [[2.5, 4.5], [10.5, 12.5]])
    dx = pool2d_backward(np.full((1, 1, 2, 2), 4.0), cache)
    np.testing.assert_array_equal(dx, np.ones((1, 1, 4, 4)))


def test_ties_go_to_the_first_maximum_in_both_versions(passes):
    x = np.ones((1, 1, 2, 2))
    for forward, backward in ((pool2d_forward, pool2d_backward), (pool2d_forward_reference, pool2d_backward_reference)):
        out, cache = forward(x, 2, 2, mode="max")
        dx = backward(np.ones_like(out), cache)
        np.testing.assert_array_equal(dx[0, 0], [[1, 0], [0, 0]])


@pytest.mark.parametrize("mode", ["max", "avg"])
@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("x_layout", LAYOUTS, ids=["nchw", "nhwc"])
@pytest.mark.parametrize("dout_layout", LAYOUTS, ids=["nchw", "nhwc"])
@pytest.mark.parametrize("chunks", ["measured", "one example"])
def test_strided_version_matches_reference_in_any_layout_and_chunking(case, mode, x_layout, dout_layout, chunks,
                                                                      passes, request):
    if chunks == "one example":
        request.getfixturevalue("tiny_chunks")
    n, d, h, w, window, stride, pad = case
    x = distinct_values((n, d, h, w))
    x[0, 0, :2, :2] = 1.0  # a tie: the first maximum must get the gradient
    out_fast, cache_fast = pool2d_forward(x_layout(x), window, stride, pad, mode)
    out_ref, cache_ref = pool2d_forward_reference(x, window, stride, pad, mode)
    np.testing.assert_allclose(out_fast, out_ref, rtol=1e-12)
    assert is_channel_last(out_fast) == (x_layout is channel_last or d == 1)  # the output keeps x's layout
    dout = np.random.default_rng(1).standard_normal(out_ref.shape)
    np.testing.assert_allclose(pool2d_backward(dout_layout(dout), cache_fast), pool2d_backward_reference(dout, cache_ref),
                               rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("mode", ["max", "avg"])
@pytest.mark.parametrize("case", CASES)
def test_parity_with_torch(case, mode):
    # max_pool2d pads with −∞ as volnet does; avg_pool2d counts the zero padding (count_include_pad)
    torch = pytest.importorskip("torch")
    n, d, h, w, window, stride, pad = case
    x = distinct_values((n, d, h, w), seed=2)
    out, cache = pool2d_forward(x, window, stride, pad, mode)
    x_torch = torch.from_numpy(x).requires_grad_()
    pool = torch.nn.functional.max_pool2d if mode == "max" else torch.nn.functional.avg_pool2d
    theirs = pool(x_torch, window, stride, pad)
    np.testing.assert_allclose(out, theirs.detach().numpy(), rtol=1e-12)
    dout = np.random.default_rng(3).standard_normal(out.shape)
    theirs.backward(torch.from_numpy(dout))
    np.testing.assert_allclose(pool2d_backward(dout, cache), x_torch.grad.numpy(), rtol=1e-12, atol=1e-14)


def test_global_average_pool():
    x = np.arange(2 * 3 * 2 * 2, dtype=float).reshape(2, 3, 2, 2)
    out, cache = global_avgpool_forward(x)
    np.testing.assert_array_equal(out, x.mean(axis=(2, 3)))
    dx = global_avgpool_backward(np.ones((2, 3)), cache)
    np.testing.assert_array_equal(dx, np.full(x.shape, 0.25))


def test_bad_mode_and_padding_are_clear_errors():
    with pytest.raises(ValueError, match="mode must be one of"):
        pool2d_forward(np.zeros((1, 1, 4, 4)), mode="min")
    with pytest.raises(ValueError, match="at most half the window"):
        pool2d_forward(np.zeros((1, 1, 4, 4)), 2, 2, pad=2)



@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(1, 5, 6, 10), (3, 1, 4, 2), (2, 17, 2, 2), (4, 7, 8, 6)])
@pytest.mark.parametrize("x_layout", [*LAYOUTS, lambda a: np.repeat(a, 2, axis=1)[:, ::2]], ids=["nchw", "nhwc", "strided"])
def test_max_pool_2x2_keeps_the_reference_and_its_tie_rule_in_both_dtypes(shape, dtype, x_layout, passes):
    # numbers from {0, 1, 2}: most windows hold ties, in every arrangement of the four places
    rng = np.random.default_rng(4)
    x = rng.integers(0, 3, shape).astype(dtype)
    out, cache = pool2d_forward(x_layout(x), 2, 2, mode="max")
    out_ref, cache_ref = pool2d_forward_reference(x, 2, 2, mode="max")
    assert out.dtype == dtype
    np.testing.assert_array_equal(out, out_ref)
    dout = rng.standard_normal(out.shape).astype(dtype)
    for dout_layout in LAYOUTS:
        dx = pool2d_backward(dout_layout(dout), cache)
        assert dx.dtype == dtype and is_channel_last(dx) == (is_channel_last(x_layout(x)) or shape[1] == 1)
        np.testing.assert_array_equal(dx, pool2d_backward_reference(dout, cache_ref))


def test_a_nan_in_a_window_is_its_maximum(passes):
    x = channel_last(np.arange(32.0).reshape(1, 2, 4, 4))
    x[0, 1, 2, 3] = np.nan
    out, _ = pool2d_forward(x, 2, 2, mode="max")
    assert np.isnan(out[0, 1, 1, 1]) and np.isnan(out).sum() == 1
