# The fully-connected op (volnet/ops/linear.py): the multiplies split over the cores against
# the one-multiply reference beside them, with and without bias, inputs of any rank, and PyTorch.
import numpy as np
import pytest

from volnet.ops.linear import linear_backward, linear_backward_reference, linear_forward, linear_forward_reference


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("d_in, d_out", [(5, 3), (301, 257)])  # not split, split (≥ SPLIT_MIN_WEIGHTS)
@pytest.mark.parametrize("bias", [True, False])
def test_linear_split_over_the_cores_equals_one_multiply(d_in, d_out, dtype, bias):
    rng = np.random.default_rng(0)
    x, w, b = (rng.standard_normal(shape).astype(dtype) for shape in ((7, d_in), (d_out, d_in), (d_out,)))
    b = b if bias else None
    out, cache = linear_forward(x, w, b)
    out_ref, cache_ref = linear_forward_reference(x, w, b)
    dout = rng.standard_normal((7, d_out)).astype(dtype)
    tolerance = 1e-5 if dtype == np.float32 else 1e-12
    exact = (x @ w.T + (0 if b is None else b), dout @ w, dout.T @ x, dout.sum(axis=0) if bias else None)
    for ours, reference, formula in zip((out, *linear_backward(dout, cache)),
                                        (out_ref, *linear_backward_reference(dout, cache_ref)), exact):
        if formula is None:
            assert ours is None and reference is None
            continue
        assert ours.dtype == dtype
        for got in (ours, reference):
            np.testing.assert_allclose(got, formula, rtol=tolerance, atol=tolerance * np.abs(formula).max())


def test_a_volume_is_flattened_and_dx_gets_its_shape_back():
    rng = np.random.default_rng(1)
    x, w = rng.standard_normal((2, 3, 4, 4)), rng.standard_normal((5, 48))
    out, cache = linear_forward(x, w)
    dx, dw, _ = linear_backward(np.ones_like(out), cache)
    assert out.shape == (2, 5) and dx.shape == x.shape and dw.shape == w.shape
    with pytest.raises(ValueError, match="each example has 48 numbers but w .* expects 47"):
        linear_forward(x, w[:, :47])


def test_parity_with_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(2)
    x, w, b = rng.standard_normal((6, 301)), rng.standard_normal((257, 301)), rng.standard_normal(257)
    out, cache = linear_forward(x, w, b)
    tensors = [torch.from_numpy(a).requires_grad_() for a in (x, w, b)]
    theirs = torch.nn.functional.linear(*tensors)
    np.testing.assert_allclose(out, theirs.detach().numpy(), rtol=1e-12, atol=1e-12)
    dout = rng.standard_normal(out.shape)
    theirs.backward(torch.from_numpy(dout))
    for ours, tensor in zip(linear_backward(dout, cache), tensors):
        np.testing.assert_allclose(ours, tensor.grad.numpy(), rtol=1e-12, atol=1e-12)
