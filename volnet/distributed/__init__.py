"""Training on many processes and machines: data parallelism over MPI (mpi4py, `volnet[mpi]`).

    world    World (one process), MPIWorld (the ranks of an MPI job), connect: what a run asks
             about the batch as a whole — its share, the gradients' Allreduce, SyncBN's sums,
             the sharded evaluation — and how a failure on one rank ends them all

`mpiexec -n R volnet train ...` is detected by itself (volnet.distributed.connect); see
docs/distributed.md for the design, the equality with one process and what scaling costs.
"""

from volnet.distributed.world import MPIWorld, World, connect, launched_ranks

__all__ = ["MPIWorld", "World", "connect", "launched_ranks"]
