# The fast conv and pool paths beyond the lead's sweeps (tests/ops/test_conv.py, test_pool.py):
# inputs and upstream gradients in channel-last memory (what a net passes between layers),
# batches cut into many chunks run on worker threads, both ways of computing dx, both
# algorithms (im2col, and Winograd for 3×3 stride-1 layers), and the padding helpers of im2col. Float64 agreement to 1e-10 means only summation order differs.
import numpy as np
import pytest

from volnet.ops import conv, pool, winograd
from volnet.ops.im2col import col2im, im2col, pad_channel_last, unpad_channel_last
from volnet.ops.pool import (
    pool2d_backward,
    pool2d_backward_reference,
    pool2d_forward,
    pool2d_forward_reference,
)

# (N, D, H, W, K, F, stride, pad, dilation, groups)
CONV_CASES = [
    (5, 3, 8, 8, 4, 3, 1, 1, 1, 1),     # stride 1, D < 16: dx by col2im
    (5, 16, 6, 7, 8, 3, 1, 1, 1, 1),    # stride 1, D ≥ 16: dx by the transposed convolution
    (4, 16, 7, 7, 8, 3, 2, 1, 1, 1),    # stride 2: col2im
    (3, 16, 9, 9, 6, 3, 1, 2, 2, 1),    # dilation
    (3, 32, 6, 6, 8, 3, 1, 1, 1, 2),    # groups of 16: transposed, per group
    (3, 16, 5, 5, 4, 3, 1, 3, 1, 1),    # pad > F − 1: the full padding would be negative, col2im
    (2, 3, 5, 6, 4, 3, 1, 0, 1, 1),     # odd output height (Winograd's last tile row is cut)
    (4, 16, 5, 5, 4, 1, 1, 0, 1, 1),    # 1×1 filters
]


def channel_last(array):
    # the same numbers, laid out (N, H, W, D) in memory, seen as (N, D, H, W)
    return np.ascontiguousarray(array.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)


def conv_case(case, seed=0):
    n, d, h, w_, k, f, stride, pad, dilation, groups = case
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, d, h, w_))
    w = rng.standard_normal((k, d // groups, f, f))
    b = rng.standard_normal(k)
    return x, w, b, dict(stride=stride, pad=pad, dilation=dilation, groups=groups)


@pytest.fixture
def tiny_chunks(monkeypatch):
    # a chunk of one example: every loop over chunks runs many times, on the worker threads
    for module in (conv, pool, winograd):
        monkeypatch.setattr(module, "CHUNK_NUMBERS", 1)


@pytest.mark.parametrize("case", CONV_CASES)
@pytest.mark.parametrize("layout", [np.ascontiguousarray, channel_last])
def test_conv_matches_reference_in_any_layout_and_chunking(case, layout, tiny_chunks, conv_algorithm):
    x, w, b, hyper = conv_case(case)
    out, cache = conv.conv2d_forward(layout(x), w, b, **hyper)
    out_ref, cache_ref = conv.conv2d_forward_reference(x, w, b, **hyper)
    np.testing.assert_allclose(out, out_ref, rtol=1e-10, atol=1e-10)
    dout = np.random.default_rng(1).standard_normal(out.shape)
    for fast, ref in zip(conv.conv2d_backward(layout(dout), cache), conv.conv2d_backward_reference(dout, cache_ref)):
        np.testing.assert_allclose(fast, ref, rtol=1e-10, atol=1e-10)


def test_both_ways_of_computing_dx_agree(monkeypatch):
    # the transposed convolution and col2im are two routes to the same dx of im2col
    monkeypatch.setattr(winograd, "ENABLED", False)
    x, w, b, hyper = conv_case(CONV_CASES[1])
    out, cache = conv.conv2d_forward(x, w, b, **hyper)
    dout = np.random.default_rng(2).standard_normal(out.shape)
    dx_transposed = conv.conv2d_backward(dout, cache)[0]
    monkeypatch.setattr(conv, "TRANSPOSED_MIN_DEPTH", 10**9)
    np.testing.assert_allclose(conv.conv2d_backward(dout, cache)[0], dx_transposed, rtol=1e-10, atol=1e-10)


def test_conv_float32_in_float32_out_channel_last(conv_algorithm):
    x, w, b, hyper = conv_case(CONV_CASES[1])
    x, w, b = x.astype(np.float32), w.astype(np.float32), b.astype(np.float32)
    out, cache = conv.conv2d_forward(x, w, b, **hyper)
    assert out.dtype == np.float32 and out.transpose(0, 2, 3, 1).flags.c_contiguous
    assert all(g.dtype == np.float32 for g in conv.conv2d_backward(np.ones_like(out), cache))


# (N, D, H, W, window, stride, pad, mode)
POOL_CASES = [
    (3, 4, 8, 8, 2, 2, 0, "max"),
    (2, 3, 7, 7, 3, 2, 1, "max"),
    (2, 3, 8, 8, 2, 3, 0, "max"),      # stride 3: rows 2 and 5 are in no window
    (2, 3, 6, 6, 3, 1, 0, "avg"),
    (2, 3, 8, 8, 2, 2, 0, "avg"),
]


@pytest.mark.parametrize("case", POOL_CASES)
@pytest.mark.parametrize("x_layout", [np.ascontiguousarray, channel_last])
@pytest.mark.parametrize("dout_layout", [np.ascontiguousarray, channel_last])
def test_pool_matches_reference_in_any_layout(case, x_layout, dout_layout, tiny_chunks):
    n, d, h, w_, window, stride, pad, mode = case
    rng = np.random.default_rng(3)
    x = rng.permutation(n * d * h * w_).reshape(n, d, h, w_) / 7.0
    x[0, 0, :2, :2] = 1.0  # a tie: the first maximum must get the gradient
    out, cache = pool2d_forward(x_layout(x), window, stride, pad, mode)
    out_ref, cache_ref = pool2d_forward_reference(x, window, stride, pad, mode)
    np.testing.assert_allclose(out, out_ref, rtol=1e-12, atol=1e-12)
    assert out.transpose(0, 2, 3, 1).flags.c_contiguous == (x_layout is channel_last)
    dout = rng.standard_normal(out.shape)
    dx = pool2d_backward(dout_layout(dout), cache)
    np.testing.assert_allclose(dx, pool2d_backward_reference(dout, cache_ref), rtol=1e-12, atol=1e-12)


def test_pad_channel_last_round_trips_and_zeroes_the_border():
    x = np.random.default_rng(4).standard_normal((2, 3, 4, 5))
    padded = pad_channel_last(channel_last(x), (1, 2))
    assert padded.shape == (2, 6, 9, 3)
    assert not padded[:, 0].any() and not padded[:, :, :2].any() and not padded[:, -1].any()
    np.testing.assert_array_equal(unpad_channel_last(padded, (1, 2), (4, 5)), x)


def test_col2im_is_the_adjoint_of_im2col():
    # <im2col(x), c> = <x, col2im(c)> for every x and c: col2im is im2col's transpose
    rng = np.random.default_rng(5)
    x = rng.standard_normal((2, 3, 7, 6))
    args = ((3, 2), (3, 3), (2, 2), (1, 1))
    cols = im2col(x, *args)
    c = rng.standard_normal(cols.shape)
    np.testing.assert_allclose(np.sum(cols * c), np.sum(x * col2im(c, x.shape, *args)), rtol=1e-12)
