"""Batch normalisation of vectors (N, D) or of volumes (N, D, H, W), per depth slice.

Forward in training, over the M numbers of each feature d (M = N, or N·H·W for volumes):
    μ = mean(x),  σ² = mean((x − μ)²),  x̂ = (x − μ)/√(σ² + ε),  out = γ·x̂ + β
and the running statistics move towards the batch's: r ← (1 − m)·r + m·stat, with the
unbiased variance σ²·M/(M − 1) as PyTorch keeps it. In inference μ and σ² are the
running ones and are constants.

Backward in training (μ and σ² depend on every x, which gives the two extra terms):
    dβ = Σ dout,   dγ = Σ dout·x̂,   dx̂ = dout·γ
    dx = (γ/√(σ² + ε))·(dout − mean(dout) − x̂·mean(dout·x̂))
       = (γ/√(σ² + ε))·(dout − dβ/M − x̂·dγ/M)
The mean(dout) term comes through μ; the x̂·mean(dout·x̂) term through σ², whose own
dependence on μ drops out because Σ(x − μ) = 0. In inference dx = dout·γ/√(σ² + ε).

A batch spread over several processes (SyncBN, see volnet.distributed) gives every sum
above to `sum_over_batch`, which adds the other processes' partial sums: forward Σx with
the count M, then Σ(x − μ)²; backward Σdout and Σdout·x̂. μ, σ² and dx are then those of
the whole batch, while dγ and dβ stay this process's share (the gradients' Allreduce adds
them up). In one process it is the identity.

Memory layout: a volume that is channel-last in memory (every conv's output is, see
volnet.ops.conv) is handled as the matrix (N·H·W, D) it is, so each pass streams through
memory in order and the result keeps the layout; any other volume as (N, D, H·W).
Each pass works on slices of rows ("stream" chunks, volnet.ops.parallel) on all cores;
per-feature sums are then added over the slices in float64.

batchnorm_forward_reference and batchnorm_backward_reference are the formulas above as
whole-array NumPy, for reading and for checking the fast pair against.
"""

from __future__ import annotations

import numpy as np

from volnet.ops.compiled import kernels_for
from volnet.ops.parallel import batch_chunks, map_chunks, one_blas_thread


def _axes(x):
    """The axes a feature's numbers lie along, and the shape a (D,) vector broadcasts as."""
    return ((0,), (1, -1)) if x.ndim == 2 else ((0, 2, 3), (1, -1, 1, 1))


def batchnorm_forward_reference(x, gamma, beta, running_mean, running_var, training=True, momentum=0.1, eps=1e-5):
    """The module doc's forward, term by term over whole arrays (no chunks, no layouts).

    Same arguments (but one process's whole batch) and result as batchnorm_forward.
    """
    axes, shape = _axes(x)
    if training:
        mean, var = x.mean(axis=axes), x.var(axis=axes)
        count = x.size // x.shape[1]
        running_mean[...] = (1 - momentum) * running_mean + momentum * mean
        running_var[...] = (1 - momentum) * running_var + momentum * var * count / (count - 1)
    else:
        mean, var = running_mean, running_var
    x_hat = (x - mean.reshape(shape)) / np.sqrt(var.reshape(shape) + eps)
    out = gamma.reshape(shape) * x_hat + beta.reshape(shape)
    return out.astype(x.dtype, copy=False), (x_hat, gamma, var, eps, training)


def batchnorm_backward_reference(dout, cache):
    """The module doc's backward: dx = (γ/√(σ² + ε))·(dout − mean(dout) − x̂·mean(dout·x̂)) in
    training, dout·γ/√(σ² + ε) in inference; returns dx, dgamma (D,), dbeta (D,)."""
    x_hat, gamma, var, eps, training = cache
    axes, shape = _axes(dout)
    dbeta, dgamma = dout.sum(axis=axes), (dout * x_hat).sum(axis=axes)
    scale = gamma.reshape(shape) / np.sqrt(var.reshape(shape) + eps)
    if training:
        dx = scale * (dout - dout.mean(axis=axes, keepdims=True) - x_hat * (dout * x_hat).mean(axis=axes, keepdims=True))
    else:
        dx = scale * dout
    return dx.astype(dout.dtype, copy=False), dgamma.astype(dout.dtype), dbeta.astype(dout.dtype)


def _features(x):
    """x as an array whose axis 1 is the feature d and whose axis 0 can be sliced into rows:
    (N, D) for vectors, (N·H·W, D) for channel-last volumes (no copy), (N, D, H·W) for others."""
    if x.ndim == 2:
        return x
    if x.ndim != 4:
        raise ValueError(f"batch norm wants (N, D) or (N, D, H, W), got shape {x.shape}")
    channel_last = x.transpose(0, 2, 3, 1)
    if channel_last.flags.c_contiguous:
        return channel_last.reshape(-1, x.shape[1])
    return np.ascontiguousarray(x).reshape(x.shape[0], x.shape[1], -1)


def _in_layout_of(dout, cached):
    """dout as the forward's _features view of x was (cached's shape): the same array when dout has
    x's memory layout, else one copy into it. A channel-last dout that is not contiguous (the dx
    of a convolution, a view into its padded array) is copied in memory order, with no transpose:
    half the time of the backward's passes over it as a strided view (docs/performance.md)."""
    if dout.ndim == 2:
        return dout
    if cached.ndim == 2:
        return np.ascontiguousarray(dout.transpose(0, 2, 3, 1)).reshape(cached.shape)
    return np.ascontiguousarray(dout).reshape(cached.shape)


def _like(view, x):
    """The inverse of _features: view back in x's shape (N, D) or (N, D, H, W)."""
    if x.ndim == 2:
        return view
    if view.ndim == 2:
        n, depth, height, width = x.shape
        return view.reshape(n, height, width, depth).transpose(0, 3, 1, 2)
    return view.reshape(x.shape)


def _per_feature(v, view):
    """A (D,) vector shaped to broadcast against a _features view."""
    return v if view.ndim == 2 else v.reshape(1, -1, 1)


def _slices(block):
    """A _features view as the (A, D, B) array the compiled loops take: rows (m, D) as (m, D, 1)."""
    return block[:, :, None] if block.ndim == 2 else block


def _row_slices(view):
    """Slices of a _features view's axis 0 ("stream" chunks): one cut serves all the passes."""
    return batch_chunks(len(view), view[0].size)


def _feature_sums(function, chunks):
    """Σ over the slices of function(rows), whose partial sums are (D,) or a tuple of (D,),
    added in float64 on all cores: (D,) or (len(tuple), D)."""
    return np.sum(map_chunks(function, chunks), axis=0, dtype=np.float64)


def _sum(block):
    """Σ per feature of a _features view: (D,). For rows (m, D) a matrix-vector product,
    several times faster than NumPy's sum over the outer axis."""
    return np.ones(len(block), block.dtype) @ block if block.ndim == 2 else block.sum(axis=(0, 2))


def _sum_of_products(a, b):
    """Σ a·b per feature of two _features views of the same shape: (D,)."""
    return np.einsum("md,md->d", a, b) if a.ndim == 2 else np.einsum("ndk,ndk->d", a, b)


def _whole_batch(partial):
    """sum_over_batch when the batch is all here: the partial sums are the sums."""
    return partial


@one_blas_thread
def batchnorm_forward(x, gamma, beta, running_mean, running_var, training=True, momentum=0.1, eps=1e-5,
                      sum_over_batch=_whole_batch, rectify=False):
    """Normalise each feature (depth slice). Updates running_mean/var in place when training.

    float32 and float64 go through the compiled loops where numba loads (volnet.ops.compiled):
    one pass for the shifted sums Σ (x − K), Σ (x − K)² (K a sample of each feature, so that the
    squares do not cancel; float64), one for out; the cache keeps x and μ. Otherwise NumPy
    passes: Σ x, then x − μ (cached) and Σ (x − μ)², then out.

    Args:
        x: (N, D) or (N, D, H, W). gamma, beta, running_mean, running_var: (D,).
        sum_over_batch: float64 partial sums (k,) -> their sums over the whole batch when x is
            one process's share of it (module doc); by default x is the whole batch.
        rectify: also apply the ReLU that follows batch norm in most nets, in the same pass:
            out = max(0, γ·x̂ + β), and the backward then takes the gradient of that (saves the
            ReLU's own passes over the activations; volnet.layers.BatchNorm.absorbs).
    Returns:
        out (same shape and memory layout as x), cache for batchnorm_backward.
    """
    view = _features(x)
    kernels = kernels_for(view)
    count = view.size // view.shape[1]
    chunks = _row_slices(view)
    centered = None if kernels else np.empty_like(view)
    if training:
        if kernels:
            mean, var, count = _shifted_statistics(view, chunks, count, sum_over_batch, kernels)
        else:
            mean, var, count = _centred_statistics(view, chunks, count, sum_over_batch, centered)
        running_mean *= 1 - momentum
        running_mean += momentum * mean
        running_var *= 1 - momentum
        running_var += momentum * var * count / (count - 1)
    else:
        mean, var = running_mean, running_var
    shift = mean.astype(x.dtype)
    if centered is not None and not training:
        map_chunks(lambda rows: np.subtract(view[rows], _per_feature(shift, view), out=centered[rows]), chunks)
    inv_std = (1.0 / np.sqrt(var + eps)).astype(x.dtype)
    gain, offset = (gamma * inv_std).astype(x.dtype), beta.astype(x.dtype)
    out = np.empty_like(view)
    positive = np.empty_like(view, dtype=bool) if rectify else None

    def normalise(rows):
        """out = γ·x̂ + β = (x − μ)·(γ/√(σ² + ε)) + β (and the ReLU), while the rows are in cache."""
        if kernels:
            kernels.normalise(_slices(view[rows]), shift, gain, offset, _slices(out[rows]),
                              None if positive is None else _slices(positive[rows]))
            return
        np.multiply(centered[rows], _per_feature(gain, view), out=out[rows])
        out[rows] += _per_feature(offset, view)
        if positive is not None:  # as relu_forward's NumPy passes
            np.maximum(out[rows], 0, out=out[rows])
            np.greater(out[rows], 0, out=positive[rows])

    map_chunks(normalise, chunks)
    # x̂ = (x − μ)·inv_std is folded into per-feature factors: the cache keeps x − μ, or x and μ
    cached = (view, shift) if kernels else (centered, None)
    return _like(out, x), (*cached, gamma, inv_std, training, count, sum_over_batch, positive)


def _enough(count):
    """count, the numbers per feature in the whole batch, if a variance can be estimated from them."""
    if count < 2:
        raise ValueError(f"batch norm in training needs at least 2 numbers per feature to estimate a variance, got {count}")
    return count


def _centred_statistics(view, chunks, count, sum_over_batch, centered):
    """μ, σ² and the whole batch's count by NumPy passes: Σ x, then centered = x − μ and Σ (x − μ)²."""
    totals = sum_over_batch(np.append(_feature_sums(lambda rows: _sum(view[rows]), chunks), count))
    count = _enough(int(totals[-1]))
    mean = totals[:-1] / count
    shift = _per_feature(mean.astype(view.dtype), view)

    def center(rows):
        """x − μ into centered's rows; returns their Σ (x − μ)² per feature."""
        part = np.subtract(view[rows], shift, out=centered[rows])
        return _sum_of_products(part, part)

    return mean, sum_over_batch(_feature_sums(center, chunks)) / count, count


def _shifted_statistics(view, chunks, count, sum_over_batch, kernels):
    """μ, σ² and the whole batch's count from one compiled pass over x: the shifted sums
    S₁ = Σ (x − K), S₂ = Σ (x − K)² give this share's mean m = K + S₁/n and spread
    Σ (x − m)² = S₂ − S₁²/n; the whole batch's Σ (x − μ)² adds n·(m − μ)² to each share's spread."""
    reference = np.ascontiguousarray(view[0].reshape(view.shape[1], -1)[:, 0], dtype=np.float64)

    def moments(rows):
        sums = np.zeros((2, view.shape[1]))
        kernels.feature_moments(_slices(view[rows]), reference, sums)
        return sums

    deviation, square = _feature_sums(moments, chunks)
    local_mean = reference + deviation / count
    totals = sum_over_batch(np.append(local_mean * count, count))
    whole = _enough(int(totals[-1]))
    mean = totals[:-1] / whole
    spread = square - deviation * deviation / count + count * (local_mean - mean) ** 2
    return mean, sum_over_batch(spread) / whole, whole


@one_blas_thread
def batchnorm_backward(dout, cache):
    """Returns dx (shape and memory layout of the forward's input), dgamma (D,), dbeta (D,).

    With c = x − μ and x̂ = c·σ⁻¹ (σ⁻¹ = 1/√(σ² + ε)), per feature:
        dγ = σ⁻¹·Σ dout·c        dx = γσ⁻¹·(dout − dβ/M − c·(σ⁻¹·dγ/M))
    With a batch spread over processes, dx takes the sums over the whole batch and dγ, dβ
    are this process's share of them (module doc). Two passes, compiled where the forward's were
    (c computed on the fly from x and μ): the two sums, then dx. After a forward with
    rectify=True, dout is the gradient of max(0, out): dout·1[out > 0] takes its place, in the
    same passes.
    """
    cached, mean, gamma, inv_std, training, count, sum_over_batch, positive = cache
    view = _in_layout_of(dout, cached)
    if mean is not None:  # the forward's loops were compiled: so are these, in its dtype
        view = view.astype(cached.dtype, copy=False)
    kernels = None if mean is None else kernels_for(view, cached)
    if mean is not None and not kernels:  # a compiled forward, then numba switched off: c = x − μ by NumPy
        cached, mean = cached - _per_feature(mean.astype(cached.dtype), cached), None
    if positive is not None and not kernels:  # the ReLU's backward, as relu_backward's NumPy pass
        view = np.multiply(view, positive)
    mask = positive if kernels else None
    chunks = _row_slices(view)

    def partial_sums(part):
        """Σ dout and Σ dout·(x − μ) of the rows part."""
        if not kernels:
            return _sum(view[part]), _sum_of_products(view[part], cached[part])
        sums = np.zeros((2, view.shape[1]))
        kernels.gradient_sums(_slices(view[part]), None if mask is None else _slices(mask[part]),
                              _slices(cached[part]), mean, sums)
        return sums

    sums = _feature_sums(partial_sums, chunks)
    dbeta, dgamma = sums[0], sums[1] * inv_std
    scale = (gamma * inv_std).astype(view.dtype)
    through_var = through_mean = np.zeros(len(inv_std), view.dtype)
    if training:
        batch_dbeta, batch_dgamma_over_inv_std = sum_over_batch(sums.copy())
        through_var = (batch_dgamma_over_inv_std * inv_std * inv_std / count).astype(view.dtype)
        through_mean = (batch_dbeta / count).astype(view.dtype)
    dx = np.empty_like(view)

    def gradient(part):
        """dx = γσ⁻¹·(dout − through_mean − c·through_var); in inference both through terms are 0."""
        if kernels:
            kernels.input_gradient(_slices(view[part]), None if mask is None else _slices(mask[part]),
                                   _slices(cached[part]), mean, scale, through_mean, through_var, _slices(dx[part]))
        elif training:
            np.multiply(cached[part], _per_feature(through_var, view), out=dx[part])
            np.subtract(view[part], dx[part], out=dx[part])
            dx[part] -= _per_feature(through_mean, view)
            dx[part] *= _per_feature(scale, view)
        else:
            np.multiply(view[part], _per_feature(scale, view), out=dx[part])

    map_chunks(gradient, chunks)
    return _like(dx, dout).astype(dout.dtype, copy=False), dgamma.astype(dout.dtype), dbeta.astype(dout.dtype)
