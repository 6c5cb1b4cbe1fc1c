# Adam's compiled update (volnet/optim/update_kernels.py) against its NumPy passes: the same bits,
# in float32 and float64, for odd sizes, one number, and a parameter large enough to be updated
# in slices on all cores; with L2 weight decay, decoupled decay (AdamW) and clipping.
import numpy as np
import pytest

from volnet.layers import Parameter
from volnet.optim import Adam, AdamW, optimizers

pytest.importorskip("numba")

SHAPES = {"filters": (5, 3, 3, 3), "one": (1,), "odd": (7, 13), "large": (optimizers.SPLIT_NUMBERS + 3,)}


def run(optimizer_class, options, dtype, compiled, monkeypatch):
    rng = np.random.default_rng(0)
    parameters = {name: Parameter(rng.standard_normal(shape).astype(dtype)) for name, shape in SHAPES.items()}
    with monkeypatch.context() as patch:
        if not compiled:
            patch.setattr(optimizers, "update_kernels_for", lambda *arrays: None)
        optimizer = optimizer_class(parameters, **options)
        for _ in range(4):
            for p in parameters.values():
                p.grad[...] = rng.standard_normal(p.data.shape)
            optimizer.step()
    return {name: (p.data, *optimizer.state[name].values()) for name, p in parameters.items()}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("optimizer_class, options", [
    (Adam, {}), (Adam, {"lr": 0.01, "betas": (0.8, 0.99), "eps": 1e-6, "weight_decay": 0.1, "clip_norm": 2.0}),
    (AdamW, {"lr": 0.01, "weight_decay": 0.5})])
def test_the_compiled_update_gives_the_bits_of_the_numpy_passes(optimizer_class, options, dtype, monkeypatch):
    compiled = run(optimizer_class, options, dtype, True, monkeypatch)
    passes = run(optimizer_class, options, dtype, False, monkeypatch)
    for name in SHAPES:
        for ours, theirs in zip(compiled[name], passes[name]):
            assert ours.dtype == dtype
            np.testing.assert_array_equal(ours, theirs, err_msg=name)


def test_only_contiguous_arrays_of_one_float_dtype_take_the_compiled_update():
    a = np.zeros((4, 6), np.float32)
    assert optimizers.update_kernels_for(a, a, a, a) is not None
    assert optimizers.update_kernels_for(a, a[:, ::2].copy(), a, a) is None  # shapes differ: NumPy's broadcasting
    assert optimizers.update_kernels_for(a, a.T, a, a) is None
    assert optimizers.update_kernels_for(a, a.astype(np.float64), a, a) is None
    assert optimizers.update_kernels_for(*[np.zeros(3, np.float16)] * 4) is None
