# Data-parallel training under mpiexec gives the single-process weights: -n 1 to the bit, more
# ranks to float32 reduction order (they add the batch's gradients and batch-norm sums in
# another order). Every rank ends with identical weights.
from __future__ import annotations

import numpy as np
import pytest

pytestmark = pytest.mark.slow

# Measured (6–8 steps, momentum SGD, the fashion preset and a small net with unequal shares):
# max |Δw| / max(1, max|w|) = 1.2e-5 with 2 ranks and 2.2e-5 with 3 in float32. For the first
# 4 steps it stays below 7.2e-7 (a few units in the last place), then jumps (most likely a
# max-pooling window or ReLU whose candidates lie within rounding going the other way). In
# float64 the same comparison gives < 1e-12, so nothing but rounding separates the two. The
# float64 net has no bias before its batch norms: such a bias has a true gradient of 0, so it
# moves by rounding noise alone, differently in every summation order.
FLOAT32_TOLERANCE = 1e-4
FLOAT64_TOLERANCE = 1e-11


def run_ranks(mpi, tmp_path, ranks, *options):
    # ranks None: one process without MPI, in the same environment (one BLAS thread)
    out = tmp_path / f"ranks{ranks}.npz"
    finished = mpi.run(ranks, mpi.steps, out, *options)
    assert finished.returncode == 0, finished.stderr
    with np.load(out) as saved:
        state = dict(saved)
    return state.pop("__spread__"), state


def largest_difference(state, reference):
    # max over the arrays of max |Δ| / max(1, max |w|)
    assert state.keys() == reference.keys()
    return max(float(np.abs(state[name] - value).max()) / max(1.0, float(np.abs(value).max()))
               for name, value in reference.items())


@pytest.mark.parametrize("ranks, options", [
    # batch norm (SyncBN), dropout and augmentation, two equal shares of 64
    (2, ["--arch", "fashion", "--steps", "6", "--batch-size", "64"]),
    # three unequal shares (16, 17, 17) of a batch of 50, Nesterov momentum
    (3, ["--arch", "conv3-8 bn relu pool dropout0.3 fc32 bn relu fc10", "--optimizer", "nesterov",
         "--steps", "8", "--batch-size", "50"]),
])
def test_ranks_give_the_single_process_weights_to_float32_rounding(mpi, tmp_path, ranks, options):
    spread, state = run_ranks(mpi, tmp_path, ranks, *options)
    _, reference = run_ranks(mpi, tmp_path, None, *options)
    assert spread <= 1e-12  # every rank holds the same weights
    difference = largest_difference(state, reference)
    print(f"{ranks} ranks: max |Δw|/max(1, max|w|) = {difference:.2g}")
    assert 0 < difference < FLOAT32_TOLERANCE  # > 0: the sums were split, not the same arithmetic


def test_float64_adam_agrees_to_float64_rounding(mpi, tmp_path):
    options = ["--arch", "conv3-8/nobias bn relu pool fc16/nobias bn relu dropout0.2 fc10", "--optimizer", "adam",
               "--steps", "5", "--batch-size", "40", "--dtype", "float64"]
    _, state = run_ranks(mpi, tmp_path, 2, *options)
    _, reference = run_ranks(mpi, tmp_path, None, *options)
    difference = largest_difference(state, reference)
    print(f"float64, Adam: max |Δw|/max(1, max|w|) = {difference:.2g}")
    assert difference < FLOAT64_TOLERANCE


def test_one_rank_is_one_process_to_the_bit(mpi, tmp_path):
    # MPIWorld with one rank runs every collective, on the same arithmetic path as World
    options = ["--arch", "fashion", "--steps", "3", "--batch-size", "32"]
    _, state = run_ranks(mpi, tmp_path, 1, "--distributed", *options)
    _, reference = run_ranks(mpi, tmp_path, None, *options)
    for name, value in reference.items():
        assert np.array_equal(state[name], value), name
