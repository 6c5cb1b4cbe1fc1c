# volnet.ops.parallel: chunks of a batch on worker threads with single-threaded BLAS.
import numpy as np

from volnet.ops.parallel import batch_slices, blas_threads, map_chunks


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
