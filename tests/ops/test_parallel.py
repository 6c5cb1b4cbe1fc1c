# volnet.ops.parallel: chunks of a batch on worker threads with single-threaded BLAS.
import time

import numpy as np
import pytest

from volnet.layers.base import Layer
from volnet.ops.linear import linear_backward, linear_forward
from volnet.ops.parallel import (_LOCK, _blas_threads_now, _openblas, _set_blas_threads, batch_slices, blas_threads,
                                 even_slices, map_chunks, one_blas_thread)


def test_batch_slices_cover_the_batch_in_order():
    slices = batch_slices(10, numbers_per_example=3, chunk_numbers=7)  # 2 examples a slice
    assert [(s.start, s.stop) for s in slices] == [(0, 2), (2, 4), (4, 6), (6, 8), (8, 10)]
    assert batch_slices(3, numbers_per_example=100, chunk_numbers=1) == [slice(0, 1), slice(1, 2), slice(2, 3)]
    assert batch_slices(4, numbers_per_example=1, chunk_numbers=10**9) == [slice(0, 4)]


def test_results_come_back_in_order_and_blas_threads_are_restored():
    threads = blas_threads()
    a = np.random.default_rng(0).standard_normal((64, 32))
    results = map_chunks(lambda s: a[s] @ a[s].T, batch_slices(64, 32, 32 * 8))
    for s, result in zip(batch_slices(64, 32, 32 * 8), results):
        np.testing.assert_allclose(result, a[s] @ a[s].T)
    assert blas_threads() == threads


def test_a_call_from_inside_a_worker_runs_as_a_plain_loop():
    inner = map_chunks(lambda outer: map_chunks(lambda x: x * outer, [1, 2, 3]), [10, 20])
    assert inner == [[10, 20, 30], [20, 40, 60]]


def test_even_slices_cut_a_range_into_nearly_equal_parts():
    assert even_slices(10, 3) == [slice(0, 3), slice(3, 7), slice(7, 10)]
    assert even_slices(1, 2) == [slice(0, 1)]
    assert even_slices(5, 1) == [slice(0, 5)]


@pytest.mark.skipif(_openblas() is None, reason="the hold is for NumPy's OpenBLAS")
def test_layers_hold_blas_at_one_thread_and_give_the_count_back():
    original = _blas_threads_now()
    _set_blas_threads(2)  # so that a hold which did nothing could not pass
    try:
        _check_the_hold(cores=2)
    finally:
        _set_blas_threads(original)


def _check_the_hold(cores):
    seen = {}

    class Probe(Layer):
        def forward(self, x):
            seen["blas"], seen["cores"] = _blas_threads_now(), blas_threads()
            return x

        def backward(self, dout):
            seen["backward blas"] = _blas_threads_now()
            return dout

    probe = Probe()
    probe.backward(probe.forward(np.ones((2, 3), np.float32)))
    assert seen == {"blas": 1, "cores": cores, "backward blas": 1}
    assert _blas_threads_now() == cores
    with one_blas_thread:  # re-entrant: the inner exit keeps the hold
        with one_blas_thread:
            pass
        assert _blas_threads_now() == 1
    assert _blas_threads_now() == cores


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("d_in, d_out", [(5, 3), (301, 257)])  # not split, split (≥ SPLIT_MIN_WEIGHTS)
def test_linear_split_over_the_cores_equals_one_multiply(d_in, d_out, dtype):
    rng = np.random.default_rng(0)
    x, w, b = (rng.standard_normal(shape).astype(dtype) for shape in ((7, d_in), (d_out, d_in), (d_out,)))
    out, cache = linear_forward(x, w, b)
    dout = rng.standard_normal((7, d_out)).astype(dtype)
    dx, dw, db = linear_backward(dout, cache)
    tolerance = 1e-5 if dtype == np.float32 else 1e-12
    for ours, exact in ((out, x @ w.T + b), (dx, dout @ w), (dw, dout.T @ x), (db, dout.sum(axis=0))):
        assert ours.dtype == dtype
        np.testing.assert_allclose(ours, exact, rtol=tolerance, atol=tolerance * np.abs(exact).max())


@pytest.mark.parametrize("failing", [0, 1])  # the first chunk (the caller's) or one a pool thread may take
def test_an_error_in_any_chunk_reaches_the_caller_after_every_thread_stopped(failing):
    running, started = [], []

    def chunk(i):
        started.append(i)
        running.append(i)
        time.sleep(0.02)
        running.remove(i)
        if i == failing:
            raise ValueError(f"chunk {i}")
        return i

    threads = blas_threads()
    with pytest.raises(ValueError, match=f"chunk {failing}"):
        map_chunks(chunk, list(range(20)))
    assert running == []  # no chunk still running when the error arrived
    assert len(started) < 20  # no thread started new chunks after the error
    assert not _LOCK.locked() and blas_threads() == threads
    assert map_chunks(lambda i: i * i, list(range(20))) == [i * i for i in range(20)]
