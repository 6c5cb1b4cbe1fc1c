# Winograd F(2×2, 3×3) (volnet/ops/winograd.py): which layers take it, its tile transforms
# against the matrices they stand for, and whole layers against the reference loops.
# The sweeps over layouts and chunkings are in test_fast_paths.py (the conv_algorithm fixture).
import os
import subprocess
import sys

import numpy as np
import pytest

from volnet.ops import conv, winograd

pytest.importorskip("numba")
from volnet.ops import winograd_kernels  # noqa: E402  (needs numba)

B_T = np.array([[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]], float)
A_T = np.array([[1, 1, 1, 0], [0, 1, -1, -1]], float)


@pytest.mark.parametrize("w_shape, stride, dilation, groups, suits", [
    ((64, 32, 3, 3), (1, 1), (1, 1), 1, True),
    ((64, 16, 3, 3), (1, 1), (1, 1), 1, True),
    ((64, 15, 3, 3), (1, 1), (1, 1), 1, False),   # thinner than MIN_DEPTH: a first layer
    ((64, 32, 5, 5), (1, 1), (1, 1), 1, False),
    ((64, 32, 3, 3), (2, 2), (1, 1), 1, False),
    ((64, 32, 3, 3), (1, 1), (2, 2), 1, False),
    ((64, 16, 3, 3), (1, 1), (1, 1), 2, False),
    ((64, 32, 3, 1), (1, 1), (1, 1), 1, False),
])
def test_which_layers_take_winograd(monkeypatch, w_shape, stride, dilation, groups, suits):
    x, w = np.zeros((2, w_shape[1] * groups, 6, 6)), np.zeros(w_shape)
    monkeypatch.setattr(winograd, "ENABLED", True)
    assert winograd.suits(x, w, stride, dilation, groups) is suits
    monkeypatch.setattr(winograd, "ENABLED", False)
    assert winograd.suits(x, w, stride, dilation, groups) is False


@pytest.mark.parametrize("x_dtype, w_dtype", [
    (np.float16, np.float16), (np.float32, np.float64), (np.int64, np.int64), (">f4", ">f4"),
])
def test_other_dtypes_take_im2col(monkeypatch, x_dtype, w_dtype):
    # numba's kernels exist for native float32 and float64; G's halves would round to 0 in integers
    monkeypatch.setattr(winograd, "ENABLED", True)
    rng = np.random.default_rng(4)
    x = (rng.standard_normal((2, 16, 5, 5)) * 4).astype(x_dtype)
    w = (rng.standard_normal((4, 16, 3, 3)) * 4).astype(w_dtype)
    out, cache = conv.conv2d_forward(x, w, None, pad=1)
    assert cache[-1] is False
    reference, _ = conv.conv2d_forward_reference(x.astype(np.float64), w.astype(np.float64), None, pad=1)
    np.testing.assert_allclose(out, reference, rtol=1e-2, atol=1e-2 * np.abs(reference).max())


def test_a_thin_layer_stays_im2col_end_to_end(monkeypatch):
    monkeypatch.setattr(winograd, "ENABLED", True)
    x, w = np.ones((2, winograd.MIN_DEPTH - 1, 6, 6)), np.ones((4, winograd.MIN_DEPTH - 1, 3, 3))
    assert conv.conv2d_forward(x, w, None, pad=1)[1][-1] is False
    x, w = np.ones((2, winograd.MIN_DEPTH, 6, 6)), np.ones((4, winograd.MIN_DEPTH, 3, 3))
    assert conv.conv2d_forward(x, w, None, pad=1)[1][-1] is True


def test_a_numba_that_cannot_load_falls_back_to_im2col_with_one_warning(monkeypatch):
    monkeypatch.setattr(winograd, "ENABLED", True)
    monkeypatch.setitem(sys.modules, "volnet.ops.winograd_kernels", None)  # importing it raises ImportError
    winograd._kernels.cache_clear()
    try:
        rng = np.random.default_rng(5)
        x, w = rng.standard_normal((2, 16, 5, 5)), rng.standard_normal((4, 16, 3, 3))
        with pytest.warns(UserWarning, match="numba is installed but cannot be used .*im2col instead"):
            out, cache = conv.conv2d_forward(x, w, None, pad=1)
        assert cache[-1] is False and not winograd.enabled()
        np.testing.assert_allclose(out, conv.conv2d_forward_reference(x, w, None, pad=1)[0], rtol=1e-10, atol=1e-10)
    finally:
        monkeypatch.undo()
        winograd._kernels.cache_clear()


def test_volnet_winograd_0_turns_it_off():
    code = "from volnet.ops import winograd; print(winograd.ENABLED)"
    env = {**os.environ, "VOLNET_WINOGRAD": "0"}
    assert subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                          check=True).stdout.strip() == "False"


def test_tile_transforms_are_the_matrices_of_the_algorithm():
    rng = np.random.default_rng(0)
    d = rng.standard_normal((1, 4, 4, 3))   # one 4×4 window, 3 channels
    V = np.empty((16, 1, 3))
    winograd_kernels.input_tiles(d, V, 1, 1)
    for c in range(3):
        np.testing.assert_allclose(V[:, 0, c].reshape(4, 4), B_T @ d[0, :, :, c] @ B_T.T, atol=1e-12)
    M = rng.standard_normal((16, 1, 2))
    bias = np.array([0.5, -1.0])
    y = np.empty((1, 2, 2, 2))
    winograd_kernels.output_tiles(M, bias, y, 1, 1)
    for k in range(2):
        np.testing.assert_allclose(y[0, :, :, k], A_T @ M[:, 0, k].reshape(4, 4) @ A_T.T + bias[k], atol=1e-12)


def test_backward_transforms_are_the_adjoints_of_the_forward_ones():
    # <forward(a), b> = <a, adjoint(b)> for random a, b: a 3×5-tile batch of two examples
    rng = np.random.default_rng(1)
    tiles_h, tiles_w, depth = 3, 5, 4
    x_pad = rng.standard_normal((2, 2 * tiles_h + 2, 2 * tiles_w + 2, depth))
    V_grad = rng.standard_normal((16, 2 * tiles_h * tiles_w, depth))
    V = np.empty_like(V_grad)
    winograd_kernels.input_tiles(x_pad, V, tiles_h, tiles_w)
    dx_pad = np.zeros_like(x_pad)
    winograd_kernels.input_gradient_tiles(V_grad, dx_pad, tiles_h, tiles_w)
    assert np.sum(V * V_grad) == pytest.approx(np.sum(x_pad * dx_pad), rel=1e-12)

    M = rng.standard_normal((16, 2 * tiles_h * tiles_w, depth))
    dy = rng.standard_normal((2, 2 * tiles_h, 2 * tiles_w, depth))
    y = np.empty_like(dy)
    winograd_kernels.output_tiles(M, np.zeros(depth), y, tiles_h, tiles_w)
    M_grad = np.empty_like(M)
    winograd_kernels.gradient_tiles(dy, M_grad, tiles_h, tiles_w)
    assert np.sum(y * dy) == pytest.approx(np.sum(M * M_grad), rel=1e-12)


@pytest.mark.parametrize("hw, pad", [((14, 14), 1), ((7, 9), 1), ((8, 8), 0), ((5, 6), 2)])
def test_a_float32_layer_agrees_with_the_float64_reference(monkeypatch, hw, pad):
    # a layer as a net has it (32 → 48 filters, float32): Winograd's extra roundings stay
    # at float32's level, relative to the largest output
    monkeypatch.setattr(winograd, "ENABLED", True)
    rng = np.random.default_rng(2)
    x = rng.standard_normal((3, 32, *hw))
    w = rng.standard_normal((48, 32, 3, 3)) * 0.1
    b = rng.standard_normal(48)
    out, cache = conv.conv2d_forward(*(a.astype(np.float32) for a in (x, w, b)), pad=pad)
    assert cache[-1] is True  # it took Winograd
    out_ref, cache_ref = conv.conv2d_forward_reference(x, w, b, pad=pad)
    dout = rng.standard_normal(out.shape)
    grads = conv.conv2d_backward(dout.astype(np.float32), cache)
    grads_ref = conv.conv2d_backward_reference(dout, cache_ref)
    for name, got, want in zip(("out", "dx", "dw", "db"), (out, *grads), (out_ref, *grads_ref)):
        assert got.dtype == np.float32 and got.shape == want.shape, name
        np.testing.assert_allclose(got, want, rtol=0, atol=2e-6 * np.abs(want).max(), err_msg=name)


def test_without_input_gradient_only_dw_and_db(monkeypatch):
    monkeypatch.setattr(winograd, "ENABLED", True)
    rng = np.random.default_rng(3)
    x, w = rng.standard_normal((2, 16, 6, 6)), rng.standard_normal((8, 16, 3, 3))
    out, cache = conv.conv2d_forward(x, w, np.zeros(8), pad=1)
    dout = rng.standard_normal(out.shape)
    dx, dw, db = conv.conv2d_backward(dout, cache, input_gradient=False)
    _, dw_all, db_all = conv.conv2d_backward(dout, cache)
    assert dx is None
    np.testing.assert_array_equal(dw, dw_all)
    np.testing.assert_array_equal(db, db_all)
