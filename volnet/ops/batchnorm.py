"""Batch normalisation of vectors (N, D) or of volumes (N, D, H, W), per depth slice.

Forward in training, over the M numbers of each feature d (M = N, or N·H·W for volumes):
    μ = mean(x),  σ² = mean((x − μ)²),  x̂ = (x − μ)/√(σ² + ε),  out = γ·x̂ + β
and the running statistics move towards the batch's: r ← (1 − m)·r + m·stat, with the
unbiased variance σ²·M/(M − 1) as PyTorch keeps it. In inference μ and σ² are the
running ones and are constants.

Backward in training (μ and σ² depend on every x, which gives the two extra terms):
    dβ = Σ dout,   dγ = Σ dout·x̂,   dx̂ = dout·γ
    dx = (1/M)·(1/√(σ² + ε))·(M·dx̂ − Σ dx̂ − x̂·Σ(dx̂·x̂))
The Σ dx̂ term comes through μ; the x̂·Σ(dx̂·x̂) term through σ², whose own dependence on μ
drops out because Σ(x − μ) = 0. In inference dx = dx̂/√(σ² + ε).
"""

from __future__ import annotations

import numpy as np


def _axes(x):
    if x.ndim not in (2, 4):
        raise ValueError(f"batch norm wants (N, D) or (N, D, H, W), got shape {x.shape}")
    return (0,) if x.ndim == 2 else (0, 2, 3)


def _per_feature(v, x):
    """Shape a (D,) vector to broadcast against x."""
    return v.reshape((1, -1) + (1,) * (x.ndim - 2))


def batchnorm_forward(x, gamma, beta, running_mean, running_var, training=True, momentum=0.1, eps=1e-5):
    """Normalise each feature (depth slice). Updates running_mean/var in place when training.

    Args:
        x: (N, D) or (N, D, H, W). gamma, beta, running_mean, running_var: (D,).
    Returns:
        out (same shape as x), cache for batchnorm_backward.
    """
    axes = _axes(x)
    if training:
        count = x.size // x.shape[1]
        if count < 2:
            raise ValueError(f"batch norm in training needs at least 2 numbers per feature to estimate a variance, got {count}")
        mean = x.mean(axis=axes)
        var = x.var(axis=axes)
        running_mean *= 1 - momentum
        running_mean += momentum * mean
        running_var *= 1 - momentum
        running_var += momentum * var * count / (count - 1)
    else:
        mean, var = running_mean, running_var
    inv_std = 1.0 / np.sqrt(var + eps)
    x_hat = (x - _per_feature(mean, x)) * _per_feature(inv_std, x)
    out = x_hat * _per_feature(gamma, x) + _per_feature(beta, x)
    return out.astype(x.dtype, copy=False), (x_hat, gamma, inv_std, training)


def batchnorm_backward(dout, cache):
    """Returns dx (shape of x), dgamma (D,), dbeta (D,)."""
    x_hat, gamma, inv_std, training = cache
    axes = _axes(dout)
    dbeta = dout.sum(axis=axes)
    dgamma = (dout * x_hat).sum(axis=axes)
    dx_hat = dout * _per_feature(gamma, dout)
    if not training:
        return dx_hat * _per_feature(inv_std, dout), dgamma, dbeta
    count = dout.size // dout.shape[1]
    dx = (count * dx_hat - _per_feature(dx_hat.sum(axis=axes), dout)
          - x_hat * _per_feature((dx_hat * x_hat).sum(axis=axes), dout))
    return (dx * _per_feature(inv_std / count, dout)).astype(dout.dtype, copy=False), dgamma, dbeta
