# The compiled loops of batch norm, ReLU and max pooling (volnet/ops/stream_kernels.py, loaded by
# volnet/ops/compiled.py): a numba that cannot load, and results that do not depend on the thread
# count. Each op's sweeps against its reference, through these loops and through the NumPy
# passes, are in test_batchnorm.py, test_activation.py and test_pool.py.
import sys

import numpy as np
import pytest

from tests.ops.layouts import channel_last
from volnet.ops import compiled, parallel
from volnet.ops.activation import relu_forward, relu_forward_reference
from volnet.ops.batchnorm import batchnorm_backward, batchnorm_forward, batchnorm_forward_reference
from volnet.ops.pool import pool2d_forward, pool2d_forward_reference

pytest.importorskip("numba")


def test_a_numba_that_cannot_load_leaves_the_numpy_passes_with_one_warning(monkeypatch):
    monkeypatch.setitem(sys.modules, "volnet.ops.stream_kernels", None)  # importing it raises ImportError
    compiled.load.cache_clear()
    try:
        rng = np.random.default_rng(0)
        x = channel_last(rng.standard_normal((4, 3, 6, 6)))
        with pytest.warns(UserWarning, match="numba is installed but cannot be used .*NumPy passes instead"):
            out, _ = relu_forward(x)
        np.testing.assert_array_equal(out, relu_forward_reference(x)[0])
        np.testing.assert_array_equal(pool2d_forward(x)[0], pool2d_forward_reference(x)[0])
        out, _ = batchnorm_forward(x, np.ones(3), np.zeros(3), np.zeros(3), np.ones(3))
        expected, _ = batchnorm_forward_reference(x, np.ones(3), np.zeros(3), np.zeros(3), np.ones(3))
        np.testing.assert_allclose(out, expected, rtol=1e-10, atol=1e-12)
    finally:
        monkeypatch.undo()
        compiled.load.cache_clear()
    assert compiled.stream_kernels() is not None


def test_only_float32_and_float64_take_the_compiled_loops():
    assert compiled.kernels_for(np.zeros(2, np.float32), np.zeros(2, np.float32)) is compiled.stream_kernels()
    assert compiled.kernels_for(np.zeros(2, np.float32), np.zeros(2)) is None
    assert compiled.kernels_for(np.zeros(2, np.float16)) is None


@pytest.mark.parametrize("layout", [np.ascontiguousarray, channel_last], ids=["nchw", "nhwc"])
def test_batch_norm_gives_the_same_bits_on_one_core_and_on_all(layout, tiny_chunks, monkeypatch):
    # each chunk's sums are added in the chunks' order, and the chunks are cut by size alone:
    # a run resumed on another number of threads computes the same numbers (one-example chunks:
    # many, taken by every thread)
    rng = np.random.default_rng(1)
    x, dout = (layout(rng.standard_normal((16, 8, 6, 6)).astype(np.float32)) for _ in range(2))
    gamma, beta = rng.standard_normal(8).astype(np.float32), rng.standard_normal(8).astype(np.float32)

    def step():
        running = [np.zeros(8, np.float32), np.ones(8, np.float32)]
        out, cache = batchnorm_forward(x, gamma, beta, *running)
        return (out, *batchnorm_backward(dout, cache), *running)

    all_cores = step()
    monkeypatch.setattr(parallel, "worker_count", lambda: 1)
    for ours, theirs in zip(step(), all_cores):
        np.testing.assert_array_equal(ours, theirs)
