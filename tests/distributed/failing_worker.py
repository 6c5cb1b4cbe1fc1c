"""`volnet train ARGS...` in which one rank raises a ValueError at one step: run by the fault
tests under mpiexec.

    python failing_worker.py RANK STEP train ARGS...
"""

from __future__ import annotations

import sys

from volnet.cli.main import main
from volnet.distributed import launched_ranks
from volnet.training import Trainer

if __name__ == "__main__":
    rank, step, argv = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3:]
    train_step = Trainer.train_step

    def failing_step(trainer, *batch):
        if trainer.world.rank == rank and trainer.step == step:
            raise ValueError(f"the data of rank {rank} could not be read at step {step}")
        return train_step(trainer, *batch)

    Trainer.train_step = failing_step
    assert launched_ranks() > 1
    sys.exit(main(argv))
