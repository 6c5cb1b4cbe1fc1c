# The pieces of data parallelism that need no MPI, checked in one process: ranks simulated by
# World subclasses (and, for batch norm's sums, by threads meeting at a barrier) must split
# the batch, the augmentation, the dropout masks and the statistics exactly as one process has them.
from __future__ import annotations

import threading

import numpy as np
import pytest

from volnet.data import Augmentation, iterate_batches, load_dataset
from volnet.distributed import World, connect
from volnet.distributed.world import LAUNCHER_SIZE_VARIABLES
from volnet.layers import BatchNorm, Dropout
from volnet.gradients.numerical import rel_error


class Rank(World):
    """Rank `rank` of `size`, every collective played by threads that share `meeting`."""

    def __init__(self, rank, size, meeting=None):
        self.rank, self.size, self.meeting = rank, size, meeting

    def rows(self, count):
        counts = self.exchange(np.array([float(count)]))
        start = int(sum(part[0] for part in counts[: self.rank]))
        return int(sum(part[0] for part in counts)), slice(start, start + count)

    def sum(self, partial):
        return np.sum(self.exchange(partial), axis=0)

    def exchange(self, value):
        """Every rank's value, in rank order."""
        slots, barrier = self.meeting
        slots[self.rank] = np.array(value, copy=True)
        barrier.wait()
        values = list(slots)
        barrier.wait()
        return values


def on_ranks(size, work):
    """[work(Rank(r, size)) for r in range(size)], each rank in its own thread."""
    meeting, results = ([None] * size, threading.Barrier(size)), [None] * size

    def run(rank):
        results[rank] = work(Rank(rank, size, meeting))

    threads = [threading.Thread(target=run, args=(rank,)) for rank in range(size)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


@pytest.mark.parametrize("count", [1, 5, 64, 67])
@pytest.mark.parametrize("size", [1, 2, 3, 4])
def test_shares_partition_a_batch_in_order(count, size):
    shares = [Rank(rank, size).share(count) for rank in range(size)]
    assert np.array_equal(np.concatenate([np.arange(count)[share] for share in shares]), np.arange(count))
    assert max(share.stop - share.start for share in shares) - min(share.stop - share.start for share in shares) <= 1


@pytest.mark.parametrize("size", [2, 3, 4])
def test_the_ranks_batches_together_are_the_single_process_batches(size):
    # shuffled, cropped and flipped: the same draws whatever the number of ranks
    data = load_dataset("sample", "test").subset(slice(0, 70))

    def batches(share):
        return list(iterate_batches(data, 32, rng=np.random.default_rng(5), augment=Augmentation(2, True),
                                    normalize=((0.3,), (0.2,)), share=share))

    alone = batches(None)
    ranks = [batches(Rank(rank, size).share) for rank in range(size)]
    for step, (x, labels) in enumerate(alone):
        assert np.array_equal(np.concatenate([rank[step][0] for rank in ranks]), x)
        assert np.array_equal(np.concatenate([rank[step][1] for rank in ranks]), labels)


def test_check_batches_refuses_a_batch_smaller_than_the_ranks():
    Rank(0, 4).check_batches(70, 33)  # 33, 33, 4
    with pytest.raises(ValueError, match=r"70 examples in batches of 32 has a batch of 6, too few for 8 ranks"):
        Rank(0, 8).check_batches(70, 32)


@pytest.mark.parametrize("size", [2, 3])
def test_dropout_masks_are_those_of_the_whole_batch(size):
    x = np.random.default_rng(0).standard_normal((10, 4, 3, 3)).astype(np.float32)
    alone = Dropout(0.4, seed=7).forward(x)

    def work(world):
        layer = Dropout(0.4, seed=7)
        layer.world = world
        return layer.forward(x[world.share(len(x))])

    assert np.array_equal(np.concatenate(on_ranks(size, work)), alone)


@pytest.mark.parametrize("shape", [(12, 5), (9, 3, 4, 4)])
@pytest.mark.parametrize("size", [2, 3])
def test_synchronised_batch_norm_is_batch_norm_of_the_whole_batch(shape, size):
    # float64: forward, dx and the running statistics agree to summation order, and the ranks'
    # dγ, dβ add up to the whole batch's
    rng = np.random.default_rng(1)
    x, dout = rng.standard_normal(shape), rng.standard_normal(shape)

    def layer():
        norm = BatchNorm()
        norm.build(shape[1:], dtype=np.float64)
        norm.gamma.data[...] = np.linspace(0.5, 2, shape[1])
        return norm

    alone = layer()
    out, dx = alone.forward(x), alone.backward(dout)

    def work(world):
        norm, rows = layer(), world.share(len(x))
        norm.world = world
        return norm.forward(x[rows]), norm.backward(dout[rows]), norm

    results = on_ranks(size, work)
    assert rel_error(np.concatenate([part[0] for part in results]), out) < 1e-12
    assert rel_error(np.concatenate([part[1] for part in results]), dx) < 1e-12
    for name in ("gamma", "beta"):
        assert rel_error(sum(getattr(part[2], name).grad for part in results), getattr(alone, name).grad) < 1e-12
    for name in ("running_mean", "running_var"):
        for part in results:
            assert rel_error(getattr(part[2], name).data, getattr(alone, name).data) < 1e-12


def test_one_process_is_the_default_and_says_so(monkeypatch):
    for variable in LAUNCHER_SIZE_VARIABLES:
        monkeypatch.delenv(variable, raising=False)
    world = connect(False)
    assert (world.rank, world.size, world.is_root) == (0, 1, True)
    assert connect(None).size == 1  # not started by mpiexec


@pytest.mark.parametrize("variable", LAUNCHER_SIZE_VARIABLES)
def test_one_process_is_refused_where_mpiexec_started_several(monkeypatch, variable):
    monkeypatch.setenv(variable, "3")
    with pytest.raises(ValueError, match=r"mpiexec started 3 ranks but distributed training is switched off"):
        connect(False)
