# Batch norm (volnet/ops/batchnorm.py): the chunked, layout-keeping version against the
# whole-array reference beside it, for vectors and volumes, in training and inference, in any
# memory layout and however many slices of rows its passes are cut into; the reference
# against centred differences and PyTorch.
import numpy as np
import pytest

from tests.ops.layouts import LAYOUTS, channel_last, padded_channel_last
from volnet.ops.activation import relu_backward_reference, relu_forward_reference
from volnet.ops.batchnorm import (batchnorm_backward, batchnorm_backward_reference, batchnorm_forward,
                                  batchnorm_forward_reference)
from volnet.ops.layout import is_channel_last
from volnet.gradients.numerical import numerical_gradient, rel_error

SHAPES = [(6, 5, 7, 4), (2, 3, 1, 1), (1, 4, 3, 5), (8, 6), (3, 1)]


def statistics(rng, depth):
    return rng.standard_normal(depth), rng.random(depth) + 0.5


# (shape, x's layout, dout's layout): volumes in both layouts each (dout also as a conv's dx passes
# it back, padded), vectors in their one
RUNS = [(shape, x_layout, dout_layout) for shape in SHAPES for x_layout in LAYOUTS
        for dout_layout in (*LAYOUTS, padded_channel_last)
        if len(shape) == 4 or x_layout is dout_layout is np.ascontiguousarray]


@pytest.mark.parametrize("shape, x_layout, dout_layout", RUNS)
@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("chunks", ["measured", "one row"])
def test_fast_matches_the_reference_in_any_layout_and_slicing(shape, training, x_layout, dout_layout, chunks, passes,
                                                               request):
    if chunks == "one row":
        request.getfixturevalue("tiny_chunks")
    rng = np.random.default_rng(3)
    x = rng.normal(2.0, 3.0, shape)
    dout = rng.standard_normal(shape)
    gamma, beta = rng.standard_normal(shape[1]), rng.standard_normal(shape[1])
    mean, var = statistics(rng, shape[1])
    running = [mean.copy(), var.copy()]
    expected_out, cache_ref = batchnorm_forward_reference(x, gamma, beta, *running, training=training)
    fast_running = [mean.copy(), var.copy()]
    out, cache = batchnorm_forward(x_layout(x), gamma, beta, *fast_running, training=training)
    got = (out, *batchnorm_backward(dout_layout(dout), cache))
    expected = (expected_out, *batchnorm_backward_reference(dout, cache_ref))
    for name, g, e in zip(("out", "dx", "dgamma", "dbeta"), got, expected):
        np.testing.assert_allclose(g, e, rtol=1e-10, atol=1e-12, err_msg=name)
    for g, e in zip(fast_running, running):
        np.testing.assert_allclose(g, e, rtol=1e-12)
    if len(shape) == 4 and x_layout is channel_last:
        assert is_channel_last(out)


@pytest.mark.parametrize("shape, x_layout, dout_layout", RUNS)
@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_rectify_gives_the_relu_of_batch_norm_and_the_gradient_through_both(shape, x_layout, dout_layout, training,
                                                                              dtype, passes, tiny_chunks):
    # batch norm with the ReLU after it (rectify=True) against the two references one after the other
    rng = np.random.default_rng(9)
    x, dout = rng.normal(0.5, 2.0, shape), rng.standard_normal(shape)
    gamma, beta = rng.standard_normal(shape[1]), rng.standard_normal(shape[1])
    mean, var = statistics(rng, shape[1])
    normalised, cache_ref = batchnorm_forward_reference(x, gamma, beta, mean.copy(), var.copy(), training=training)
    expected_out, positive = relu_forward_reference(normalised)
    expected = (expected_out, *batchnorm_backward_reference(relu_backward_reference(dout, positive), cache_ref))
    cast = [a.astype(dtype) for a in (x, dout, gamma, beta, mean, var)]
    running = [cast[4].copy(), cast[5].copy()]
    out, cache = batchnorm_forward(x_layout(cast[0]), cast[2], cast[3], *running, training=training, rectify=True)
    got = (out, *batchnorm_backward(dout_layout(cast[1]), cache))
    # float64: summation order only; float32: its rounding, grown by sums of up to ~200 numbers
    tolerance = dict(rtol=1e-10, atol=1e-12) if dtype == np.float64 else dict(rtol=1e-4, atol=1e-4)
    for name, g, e in zip(("out", "dx", "dgamma", "dbeta"), got, expected):
        assert g.dtype == dtype, name
        np.testing.assert_allclose(g, e, **tolerance, err_msg=name)
    assert np.all(out >= 0)
    if len(shape) == 4 and x_layout is channel_last:
        assert is_channel_last(out)


def test_inference_uses_the_running_statistics_in_any_layout(tiny_chunks, passes):
    rng = np.random.default_rng(4)
    x = rng.standard_normal((3, 4, 5, 6)).astype(np.float32)
    mean, var = statistics(rng, 4)
    gamma, beta = rng.standard_normal(4), rng.standard_normal(4)
    shape = (1, -1, 1, 1)
    expected = gamma.reshape(shape) * (x - mean.reshape(shape)) / np.sqrt(var.reshape(shape) + 1e-5) + beta.reshape(shape)
    for layout in LAYOUTS:
        out, _ = batchnorm_forward(layout(x), gamma, beta, mean.copy(), var.copy(), training=False)
        assert out.dtype == np.float32
        np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("shape", [(4, 3, 2, 3), (5, 4)])
def test_reference_backward_matches_numerical_gradient(shape):
    rng = np.random.default_rng(5)
    x, dout = rng.standard_normal(shape), rng.standard_normal(shape)
    gamma, beta = rng.standard_normal(shape[1]), rng.standard_normal(shape[1])

    def loss():
        out, _ = batchnorm_forward_reference(x, gamma, beta, np.zeros(shape[1]), np.ones(shape[1]))
        return float(np.sum(out * dout))

    _, cache = batchnorm_forward_reference(x, gamma, beta, np.zeros(shape[1]), np.ones(shape[1]))
    for analytic, value in zip(batchnorm_backward_reference(dout, cache), (x, gamma, beta)):
        assert rel_error(analytic, numerical_gradient(loss, value)) < 1e-7


@pytest.mark.parametrize("shape", SHAPES[:1] + SHAPES[3:4])
@pytest.mark.parametrize("training", [True, False])
def test_parity_with_torch(shape, training, passes):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(6)
    x, dout = rng.standard_normal(shape), rng.standard_normal(shape)
    gamma, beta = rng.standard_normal(shape[1]), rng.standard_normal(shape[1])
    mean, var = statistics(rng, shape[1])
    ours_running = [mean.copy(), var.copy()]
    out, cache = batchnorm_forward(x, gamma, beta, *ours_running, training=training)
    tensors = [torch.from_numpy(a).requires_grad_() for a in (x, gamma, beta)]
    theirs_running = [torch.from_numpy(mean.copy()), torch.from_numpy(var.copy())]
    theirs = torch.nn.functional.batch_norm(tensors[0], *theirs_running, tensors[1], tensors[2], training=training,
                                            momentum=0.1, eps=1e-5)
    np.testing.assert_allclose(out, theirs.detach().numpy(), rtol=1e-10, atol=1e-12)
    theirs.backward(torch.from_numpy(dout))
    for ours, tensor in zip(batchnorm_backward(dout, cache), tensors):
        np.testing.assert_allclose(ours, tensor.grad.numpy(), rtol=1e-10, atol=1e-12)
    for ours, tensor in zip(ours_running, theirs_running):
        np.testing.assert_allclose(ours, tensor.numpy(), rtol=1e-12)


def non_contiguous(array):
    # every other column of a twice-as-wide array: strided, in neither layout
    wide = np.repeat(array, 2, axis=-1)
    return wide[..., ::2]


@pytest.mark.parametrize("shape", [(5, 3, 7, 9), (1, 6, 5, 3), (4, 1, 3, 3), (9, 7), (2, 1)])
@pytest.mark.parametrize("layout", [*LAYOUTS, non_contiguous], ids=["nchw", "nhwc", "strided"])
def test_float32_agrees_with_the_float64_reference_to_float32_rounding(shape, layout, passes):
    # odd sizes, batch 1, one feature; float32 passes (float64 sums) against the float64 formulas
    if len(shape) == 2 and layout is not np.ascontiguousarray:
        pytest.skip("vectors have one layout")
    rng = np.random.default_rng(7)
    x, dout = rng.normal(1.0, 2.0, shape), rng.standard_normal(shape)
    gamma, beta = rng.standard_normal(shape[1]), rng.standard_normal(shape[1])
    expected_out, cache_ref = batchnorm_forward_reference(x, gamma, beta, np.zeros(shape[1]), np.ones(shape[1]))
    expected = (expected_out, *batchnorm_backward_reference(dout, cache_ref))
    as32 = [a.astype(np.float32) for a in (x, dout, gamma, beta)]
    running = [np.zeros(shape[1], np.float32), np.ones(shape[1], np.float32)]
    out, cache = batchnorm_forward(layout(as32[0]), as32[2], as32[3], *running)
    got = (out, *batchnorm_backward(layout(as32[1]), cache))
    for name, g, e in zip(("out", "dx", "dgamma", "dbeta"), got, expected):
        assert g.dtype == np.float32, name
        # float32 rounding (2⁻²⁴ ≈ 6e-8) of numbers of order 1, grown by sums of up to ~300 of them
        np.testing.assert_allclose(g, e, rtol=1e-4, atol=1e-4, err_msg=name)


def test_the_variance_of_numbers_far_from_zero_keeps_float32_precision(passes):
    # mean 1000, standard deviation 1: Σx² − (Σx)²/M would cancel 6 digits; shifted float64 sums do not
    rng = np.random.default_rng(8)
    x = (1000 + rng.standard_normal((64, 3, 8, 8))).astype(np.float32)
    running = [np.zeros(3, np.float32), np.ones(3, np.float32)]
    out, _ = batchnorm_forward(x, np.ones(3, np.float32), np.zeros(3, np.float32), *running, momentum=1.0)
    np.testing.assert_allclose(running[1], x.astype(np.float64).var(axis=(0, 2, 3), ddof=1), rtol=1e-5)
    np.testing.assert_allclose(out.std(axis=(0, 2, 3), dtype=np.float64), 1.0, rtol=1e-4)


@pytest.mark.parametrize("shape", [(7, 3), (2, 3, 5, 4)])
@pytest.mark.parametrize("training", [True, False])
def test_a_backward_without_the_compiled_loops_after_a_compiled_forward_is_still_right(shape, training, monkeypatch):
    # the forward's cache keeps x and μ when its loops ran; should numba be switched off before
    # the backward (volnet.ops.compiled), the NumPy passes must get x − μ, not x
    from volnet.ops import compiled
    if compiled.stream_kernels() is None:
        pytest.skip("the compiled loops need numba")
    rng = np.random.default_rng(8)
    x, dout = rng.normal(2.0, 3.0, shape), rng.standard_normal(shape)
    gamma, beta = rng.standard_normal(shape[1]), rng.standard_normal(shape[1])
    running = [*statistics(rng, shape[1])]
    _, cache_ref = batchnorm_forward_reference(x, gamma, beta, *[r.copy() for r in running], training=training)
    _, cache = batchnorm_forward(x, gamma, beta, *[r.copy() for r in running], training=training)
    monkeypatch.setattr(compiled, "stream_kernels", lambda: None)
    for name, g, e in zip(("dx", "dgamma", "dbeta"), batchnorm_backward(dout, cache),
                          batchnorm_backward_reference(dout, cache_ref)):
        np.testing.assert_allclose(g, e, rtol=1e-10, atol=1e-12, err_msg=name)
