# Winograd F(2×2, 3×3) (volnet/ops/conv_winograd.py): its tile transforms against the matrices
# they stand for, a float32 layer against the float64 reference, and a numba that cannot load
# (for the direct loops too).
# Its sweeps against the reference over the case table are in test_conv.py.
import sys

import numpy as np
import pytest

from volnet.ops import compiled, conv_direct, conv_winograd
from volnet.ops.conv import conv2d_backward, conv2d_backward_reference, conv2d_forward, conv2d_forward_reference

pytest.importorskip("numba")
from volnet.ops import winograd_kernels  # noqa: E402  (needs numba)

B_T = np.array([[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]], float)
A_T = np.array([[1, 1, 1, 0], [0, 1, -1, -1]], float)


@pytest.mark.parametrize("module, kernels, shapes", [
    (conv_winograd, "volnet.ops.winograd_kernels", ((2, 16, 5, 5), (4, 16, 3, 3))),
    (conv_direct, "volnet.ops.direct_kernels", ((2, 1, 5, 5), (4, 1, 3, 3))),  # a first layer
], ids=["winograd", "direct"])
def test_a_numba_that_cannot_load_falls_back_to_im2col_with_one_warning(monkeypatch, module, kernels, shapes):
    monkeypatch.setitem(sys.modules, kernels, None)  # importing it raises ImportError
    compiled.load.cache_clear()
    name = module.__name__.removeprefix("volnet.ops.conv_")
    try:
        rng = np.random.default_rng(5)
        x, w = (rng.standard_normal(shape) for shape in shapes)
        with pytest.warns(UserWarning, match="numba is installed but cannot be used .*im2col instead"):
            out, cache = conv2d_forward(x, w, None, pad=1)
        assert cache.algorithm == "im2col"
        np.testing.assert_allclose(out, conv2d_forward_reference(x, w, None, pad=1)[0], rtol=1e-10, atol=1e-10)
        with pytest.raises(ValueError, match=f"'{name}' cannot compute this convolution: numba is installed but "
                                             "cannot load"):
            conv2d_forward(x, w, None, pad=1, algorithm=name)
    finally:
        monkeypatch.undo()
        compiled.load.cache_clear()


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
def test_a_float32_layer_agrees_with_the_float64_reference(hw, pad):
    # a layer as a net has it (32 → 48 filters, float32), as the policy gives it to Winograd:
    # the extra roundings stay at float32's level, relative to the largest output
    rng = np.random.default_rng(2)
    x = rng.standard_normal((3, 32, *hw))
    w = rng.standard_normal((48, 32, 3, 3)) * 0.1
    b = rng.standard_normal(48)
    out, cache = conv2d_forward(*(a.astype(np.float32) for a in (x, w, b)), pad=pad)
    assert cache.algorithm == "winograd"
    out_ref, cache_ref = conv2d_forward_reference(x, w, b, pad=pad)
    dout = rng.standard_normal(out.shape)
    grads = conv2d_backward(dout.astype(np.float32), cache)
    grads_ref = conv2d_backward_reference(dout, cache_ref)
    for name, got, want in zip(("out", "dx", "dw", "db"), (out, *grads), (out_ref, *grads_ref)):
        assert got.dtype == np.float32 and got.shape == want.shape, name
        np.testing.assert_allclose(got, want, rtol=0, atol=2e-6 * np.abs(want).max(), err_msg=name)


def test_a_thin_layer_stays_im2col_unless_asked():
    # the policy's depth rule (WINOGRAD_MIN_DEPTH); asked by name, Winograd takes any depth
    from volnet.ops.conv import WINOGRAD_MIN_DEPTH

    x, w = np.ones((2, WINOGRAD_MIN_DEPTH - 1, 6, 6)), np.ones((4, WINOGRAD_MIN_DEPTH - 1, 3, 3))
    assert conv2d_forward(x, w, None, pad=1)[1].algorithm == "im2col"
    assert conv2d_forward(x, w, None, pad=1, algorithm="winograd")[1].algorithm == "winograd"
    x, w = np.ones((2, WINOGRAD_MIN_DEPTH, 6, 6)), np.ones((4, WINOGRAD_MIN_DEPTH, 3, 3))
    assert conv2d_forward(x, w, None, pad=1)[1].algorithm == "winograd"
