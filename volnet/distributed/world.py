"""The processes a training run is spread over: one (World) or the ranks of an MPI job (MPIWorld).

Data-parallel training in Horovod's shape: every rank runs the single-process program on
its own share of each global batch, and the few places where the batch as a whole matters
ask the world:

    share(B)            this rank's rows of a global batch of B examples: rank r of R takes
                        positions [r·B//R, (r+1)·B//R) — by position in the batch, so the
                        order and the augmentation (drawn for the whole batch on every rank
                        from the same seed) do not depend on R
    sum_gradients(...)  every Parameter's .grad summed over the ranks: one Allreduce of one
                        fused buffer per step, then one of the step's loss and correct count
    sum(partial)        per-feature sums over the whole batch (SyncBN: BatchNorm asks)
    rows(n)             (global count, this rank's rows) of the batch being computed (Dropout
                        draws its mask for the global batch and keeps its rows)
    gather(rows)        rows of every rank, in rank order (sharded evaluation)
    any(flag)           whether some rank's flag is set (a stop requested on any rank)
    together(describe)  a failure on one rank ends every rank (MPI Abort), with its message

In one process every one of these is the identity, so a run without MPI is unchanged to the
bit, and `mpiexec -n 1` takes exactly the same arithmetic path.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
import traceback

import numpy as np

# what MPI launchers set in every process they start: Open MPI's mpiexec, and MPICH's (Hydra, also Intel MPI)
LAUNCHER_SIZE_VARIABLES = ("OMPI_COMM_WORLD_SIZE", "PMI_SIZE")
ABORT_PAUSE_SECONDS = 1.0  # for the failing rank's message to reach mpiexec's output before Abort
INSTALL_MPI = ("pip install 'volnet[mpi]' (mpi4py) and an MPI library: the mpich wheel (pip install mpich) "
               "or Debian's Open MPI (apt-get install openmpi-bin)")


def launched_ranks() -> int:
    """How many ranks the MPI launcher started this process among, read from its environment
    (1 when the process was not started by mpiexec); MPI itself is not loaded."""
    for variable in LAUNCHER_SIZE_VARIABLES:
        value = os.environ.get(variable, "")
        if value.isdigit():
            return int(value)
    return 1


def connect(distributed: bool | None = None) -> "World":
    """The world this process trains in.

    Args:
        distributed: None: MPI when mpiexec started more than one rank, else one process;
            True: MPI in any case (also `mpiexec -n 1` or a singleton); False: one process.

    Raises:
        ValueError: MPI is asked for (or mpiexec started several ranks) but mpi4py or an MPI
            library cannot be loaded (the message says what to install); or one process is
            asked for where mpiexec started several, which would each train alone and write
            the same files.
    """
    ranks = launched_ranks()
    if distributed is None:
        distributed = ranks > 1
    if not distributed and ranks > 1:
        raise ValueError(f"mpiexec started {ranks} ranks but distributed training is switched off "
                         "(--no-distributed): each would train alone and write the same files; "
                         "leave --no-distributed out, or start one process")
    if not distributed:
        return World()
    try:
        from mpi4py import MPI
    except (ImportError, RuntimeError) as error:  # RuntimeError: mpi4py found no MPI library
        launched = f"mpiexec started {ranks} ranks, and " if ranks > 1 else ""
        raise ValueError(f"{launched}distributed training needs mpi4py with an MPI library ({error}); "
                         f"install them with {INSTALL_MPI}") from None
    return MPIWorld(MPI.COMM_WORLD)


class World:
    """One process: rank 0 of 1. Every collective is the identity (module doc)."""

    rank, size = 0, 1

    @property
    def is_root(self) -> bool:
        """Whether this rank writes the files and shows the progress (rank 0)."""
        return self.rank == 0

    def __repr__(self):
        return f"{type(self).__name__}(rank={self.rank}, size={self.size})"

    def __deepcopy__(self, memo):
        return self  # a copied model (e.g. by the sanity checks) stays in the same world

    def share(self, count: int) -> slice:
        """This rank's rows of a global batch of `count` examples: [r·count//R, (r+1)·count//R)."""
        return slice(count * self.rank // self.size, count * (self.rank + 1) // self.size)

    def check_batches(self, examples: int, batch_size: int) -> None:
        """Raise ValueError unless every global batch of an epoch of `examples` gives each rank at least one example."""
        smallest = min(batch_size, examples % batch_size or batch_size)
        if smallest < self.size:
            raise ValueError(f"an epoch of {examples} examples in batches of {batch_size} has a batch of {smallest}, "
                             f"too few for {self.size} ranks (each needs at least one example of every batch); "
                             f"choose --batch-size so that {examples} mod it is 0 or at least {self.size}, "
                             f"or use fewer ranks")

    def attach(self, model) -> None:
        """Tell every layer of the model whose maths spans the batch (it has a `world`: BatchNorm,
        Dropout) that the batch is spread over this world."""
        for _, layer in model.named_layers():
            if hasattr(layer, "world"):
                layer.world = self

    def rows(self, count: int) -> tuple[int, slice]:
        """(examples in the global batch, this rank's rows of it) for a local batch of `count` examples."""
        return count, slice(0, count)

    def sum(self, partial: np.ndarray) -> np.ndarray:
        """The element-wise sum of `partial` over the ranks (in place where it can be); here partial itself."""
        return partial

    def sum_gradients(self, parameters, totals) -> np.ndarray:
        """Sum every parameter's .grad over the ranks (in place), and the numbers `totals`;
        returns the summed totals as float64 (here unchanged)."""
        return np.asarray(totals, dtype=np.float64)

    def gather(self, rows: np.ndarray) -> np.ndarray:
        """The rows (n_r, ...) of every rank concatenated in rank order; here rows itself."""
        return rows

    def any(self, flag: bool) -> bool:
        """Whether the flag is set on some rank."""
        return bool(flag)

    @contextlib.contextmanager
    def together(self, describe):
        """Run a block on every rank such that an exception on one ends all (here: it just propagates).

        Args:
            describe: (error, "rank r of R") -> the one-line message MPIWorld prints for a
                user error before it ends the job.
        """
        yield


class MPIWorld(World):
    """The ranks of an MPI communicator (mpi4py), for data-parallel training (module doc).

    Args:
        comm: an mpi4py communicator, normally MPI.COMM_WORLD.
    """

    def __init__(self, comm):
        from mpi4py import MPI

        self.MPI, self.comm = MPI, comm
        self.rank, self.size = comm.Get_rank(), comm.Get_size()
        self._fused: np.ndarray | None = None  # the gradients' buffer, kept from step to step

    def rows(self, count: int) -> tuple[int, slice]:
        counts = self._counts(count)
        start = int(counts[: self.rank].sum())
        return int(counts.sum()), slice(start, start + count)

    def _counts(self, count: int) -> np.ndarray:
        """Every rank's count, in rank order: (R,) int64."""
        counts = np.empty(self.size, dtype=np.int64)
        self.comm.Allgather(np.array([count], dtype=np.int64), counts)
        return counts

    def sum(self, partial: np.ndarray) -> np.ndarray:
        partial = np.ascontiguousarray(partial)
        self.comm.Allreduce(self.MPI.IN_PLACE, partial, op=self.MPI.SUM)
        return partial

    def sum_gradients(self, parameters, totals) -> np.ndarray:
        """One Allreduce of all gradients packed into one contiguous buffer (Horovod's tensor
        fusion), then a tiny float64 one of the totals. (Open MPI's non-blocking Iallreduce,
        tried to let the two share one latency, took 2–3× as long for the gradients.)"""
        grads = [parameter.grad for parameter in parameters]
        size = sum(grad.size for grad in grads)
        if self._fused is None or self._fused.size != size or self._fused.dtype != grads[0].dtype:
            self._fused = np.empty(size, dtype=grads[0].dtype)
        fused = self._fused
        np.concatenate([grad.ravel() for grad in grads], out=fused)
        self.sum(fused)
        totals = self.sum(np.array(totals, dtype=np.float64))
        offset = 0
        for grad in grads:
            grad[...] = fused[offset : offset + grad.size].reshape(grad.shape)
            offset += grad.size
        return totals

    def gather(self, rows: np.ndarray) -> np.ndarray:
        rows = np.ascontiguousarray(rows)
        counts = self._counts(len(rows))
        gathered = np.empty((int(counts.sum()), *rows.shape[1:]), dtype=rows.dtype)
        row_numbers = int(np.prod(rows.shape[1:], dtype=np.int64))
        self.comm.Allgatherv(rows, [gathered, counts * row_numbers])
        return gathered

    def any(self, flag: bool) -> bool:
        return bool(self.sum(np.array([1 if flag else 0], dtype=np.int64))[0])

    @contextlib.contextmanager
    def together(self, describe):
        """An exception on this rank is printed as `describe(error, "rank r of R")` (a user
        error: ValueError, TypeError, OSError) or as a traceback under "rank r of R:" (anything
        else), and then the whole job is aborted: the other ranks may be waiting for this one in
        a collective and would otherwise wait for ever. Exit status: 2 for a user error, 130
        for an interrupt, 1 else."""
        try:
            yield
        except BaseException as error:
            where = f"rank {self.rank} of {self.size}"
            if isinstance(error, SystemExit) and not error.code:
                raise
            if isinstance(error, (ValueError, TypeError, OSError)):
                message, code = describe(error, where), 2
            elif isinstance(error, KeyboardInterrupt):
                message, code = f"{where}: interrupted", 130
            else:
                message, code = f"{where}: " + "".join(traceback.format_exception(error)).rstrip(), 1
            print(message, file=sys.stderr, flush=True)
            # mpiexec forwards a rank's output on its own time and Abort ends the job at once:
            # without a pause the message was lost (Open MPI 4.1, every rank failing alike)
            time.sleep(ABORT_PAUSE_SECONDS)
            self.comm.Abort(code)
