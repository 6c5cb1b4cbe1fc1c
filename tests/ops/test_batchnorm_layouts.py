"""Batch norm gives the same numbers whatever the memory layout of its input and however
many slices of rows its passes are cut into, and keeps a channel-last input channel-last."""

import numpy as np
import pytest

import volnet.ops.batchnorm as batchnorm


def _naive(x, dout, gamma, beta, eps=1e-5):
    """The textbook formulas over axes (0, 2, 3), in float64."""
    axes, shape = (0, 2, 3), (1, -1, 1, 1)
    mean, var = x.mean(axis=axes), x.var(axis=axes)
    x_hat = (x - mean.reshape(shape)) / np.sqrt(var.reshape(shape) + eps)
    out = gamma.reshape(shape) * x_hat + beta.reshape(shape)
    dx_hat = dout * gamma.reshape(shape)
    m = x.size // x.shape[1]
    dx = (m * dx_hat - dx_hat.sum(axis=axes, keepdims=True)
          - x_hat * (dx_hat * x_hat).sum(axis=axes, keepdims=True)) / (m * np.sqrt(var.reshape(shape) + eps))
    return out, dx, (dout * x_hat).sum(axis=axes), dout.sum(axis=axes)


def _channel_last(a):
    return np.ascontiguousarray(a.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)


@pytest.mark.parametrize("chunk_numbers", [1 << 5, batchnorm.CHUNK_NUMBERS])
@pytest.mark.parametrize("x_layout", [np.ascontiguousarray, _channel_last])
@pytest.mark.parametrize("dout_layout", [np.ascontiguousarray, _channel_last])
def test_layouts_and_slices_agree_with_the_formulas(monkeypatch, chunk_numbers, x_layout, dout_layout):
    monkeypatch.setattr(batchnorm, "CHUNK_NUMBERS", chunk_numbers)
    rng = np.random.default_rng(3)
    x = rng.normal(2.0, 3.0, (6, 5, 7, 4))
    dout = rng.standard_normal(x.shape)
    gamma, beta = rng.standard_normal(5), rng.standard_normal(5)
    expected = _naive(x, dout, gamma, beta)
    out, cache = batchnorm.batchnorm_forward(x_layout(x), gamma, beta, np.zeros(5), np.ones(5))
    got = (out, *batchnorm.batchnorm_backward(dout_layout(dout), cache))
    for name, g, e in zip(("out", "dx", "dgamma", "dbeta"), got, expected):
        np.testing.assert_allclose(g, e, rtol=1e-10, atol=1e-12, err_msg=name)
    if x_layout is _channel_last:
        assert out.transpose(0, 2, 3, 1).flags.c_contiguous


def test_inference_uses_the_running_statistics_in_any_layout(monkeypatch):
    monkeypatch.setattr(batchnorm, "CHUNK_NUMBERS", 1 << 5)
    rng = np.random.default_rng(4)
    x = rng.standard_normal((3, 4, 5, 6)).astype(np.float32)
    mean, var = rng.standard_normal(4), rng.random(4) + 0.5
    gamma, beta = rng.standard_normal(4), rng.standard_normal(4)
    shape = (1, -1, 1, 1)
    expected = gamma.reshape(shape) * (x - mean.reshape(shape)) / np.sqrt(var.reshape(shape) + 1e-5) + beta.reshape(shape)
    for layout in (np.ascontiguousarray, _channel_last):
        out, _ = batchnorm.batchnorm_forward(layout(x), gamma, beta, mean.copy(), var.copy(), training=False)
        assert out.dtype == np.float32
        np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5)
