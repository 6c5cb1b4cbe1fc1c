# volnet.ops.parallel, the seam under every fast op: chunks of a batch on worker threads with
# single-threaded BLAS, held at one thread around each op.
import time

import numpy as np
import pytest

from volnet.ops import activation, batchnorm, conv, conv_im2col, conv_winograd, pool
from volnet.ops.linear import linear_backward, linear_forward
from volnet.ops.parallel import (_LOCK, _blas_threads_now, _openblas, _set_blas_threads, batch_chunks, batch_slices,
                                 blas_threads, even_slices, map_batch, map_chunks, map_split, one_blas_thread,
                                 worker_count)

HALVES = ("forward", "backward", "input_gradient", "filter_gradient")


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


def test_map_batch_and_map_split_cover_their_range_in_order(tiny_chunks):
    assert batch_chunks(3, 100) == [slice(0, 1), slice(1, 2), slice(2, 3)]  # one example a chunk
    assert map_batch(lambda rows: (rows.start, rows.stop), 3, 100) == [(0, 1), (1, 2), (2, 3)]
    assert map_split(lambda part: (part.start, part.stop), 10, parts=3) == [(0, 3), (3, 7), (7, 10)]
    assert len(map_split(lambda part: part, 100)) == worker_count()  # one part a worker


def test_a_call_from_inside_a_worker_runs_as_a_plain_loop():
    inner = map_chunks(lambda outer: map_chunks(lambda x: x * outer, [1, 2, 3]), [10, 20])
    assert inner == [[10, 20, 30], [20, 40, 60]]


def test_even_slices_cut_a_range_into_nearly_equal_parts():
    assert even_slices(10, 3) == [slice(0, 3), slice(3, 7), slice(7, 10)]
    assert even_slices(1, 2) == [slice(0, 1)]
    assert even_slices(5, 1) == [slice(0, 5)]


FAST_OPS = [conv.conv2d_forward, conv.conv2d_backward, conv.conv2d_input_gradient, conv.conv2d_filter_gradient,
            *(getattr(conv_im2col, f"conv2d_{half}_im2col") for half in HALVES),
            *(getattr(conv_winograd, f"conv2d_{half}_winograd") for half in HALVES),
            pool.pool2d_forward, pool.pool2d_backward, batchnorm.batchnorm_forward, batchnorm.batchnorm_backward,
            linear_forward, linear_backward, activation.relu_forward, activation.relu_backward]


@pytest.mark.parametrize("op", FAST_OPS, ids=lambda op: op.__name__)
def test_every_fast_op_holds_blas_at_one_thread(op):
    # the seam's decorator: each op's whole work (its multiplies outside the chunks too) runs
    # with BLAS at one thread, whatever calls it (a layer, a picture, a user)
    assert getattr(op, "holds_one_blas_thread", False)


@pytest.mark.skipif(_openblas() is None, reason="the hold is for NumPy's OpenBLAS")
def test_ops_hold_blas_at_one_thread_and_give_the_count_back():
    original = _blas_threads_now()
    _set_blas_threads(2)  # so that a hold which did nothing could not pass
    try:
        _check_the_hold(cores=2)
    finally:
        _set_blas_threads(original)


def _check_the_hold(cores):
    # a conv algorithm that records BLAS's thread count while it runs (conv2d_forward holds it
    # for any algorithm), and a Linear whose multiply is not split over the cores
    seen = {}

    def probe_forward(*args):
        seen["forward blas"], seen["cores"] = _blas_threads_now(), blas_threads()
        return conv.ALGORITHMS["reference"].forward(*args)

    def probe_backward(*args):
        seen["backward blas"] = _blas_threads_now()
        return conv.ALGORITHMS["reference"].backward(*args)

    reference = conv.ALGORITHMS["reference"]
    conv.register_algorithm(conv.ConvAlgorithm("probe", probe_forward, probe_backward, reference.input_gradient,
                                               reference.filter_gradient))
    try:
        out, cache = conv.conv2d_forward(np.ones((1, 1, 3, 3)), np.ones((1, 1, 2, 2)), algorithm="probe")
        conv.conv2d_backward(np.ones_like(out), cache)
    finally:
        del conv.ALGORITHMS["probe"]
    assert seen == {"forward blas": 1, "cores": cores, "backward blas": 1}
    assert _blas_threads_now() == cores
    with one_blas_thread:  # re-entrant: the inner exit keeps the hold
        with one_blas_thread:
            pass
        assert _blas_threads_now() == 1
    assert _blas_threads_now() == cores


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
