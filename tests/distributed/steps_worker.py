"""Train a few steps with the Trainer and save the weights: run by the distributed tests, in one
process (World) and under mpiexec (MPIWorld); rank 0 writes the .npz.

    python steps_worker.py OUT.npz --arch fashion --optimizer momentum --steps 6 --batch-size 64
                           [--dtype float64] [--augment crop,flip] [--distributed]
"""

from __future__ import annotations

import argparse

import numpy as np

from volnet.data import channel_stats, load_dataset
from volnet.distributed import connect
from volnet.models import build_model
from volnet.training import Trainer
from volnet.training.run import SGD_VARIANTS, parse_augment
from volnet.optim import make_optimizer


def train_steps(arch, optimizer, steps, batch_size, dtype="float32", augment="crop,flip", world=None):
    """The trained model's state after `steps` steps of one epoch on the start of the embedded sample."""
    data = load_dataset("sample", "train").subset(slice(0, steps * batch_size))
    model = build_model(arch, input_shape=data.image_shape, seed=1).to(np.dtype(dtype))
    name, options = ("sgd", SGD_VARIANTS[optimizer]) if optimizer in SGD_VARIANTS else (optimizer, {})
    rate = 1e-3 if name == "adam" else 1e-2
    trainer = Trainer(model, make_optimizer(name, model.parameters(), lr=rate, **options), batch_size=batch_size,
                      augment=parse_augment(augment, data.image_shape[1]), normalize=channel_stats(data), seed=0,
                      progress=False, log=lambda line: None, world=world)
    trainer.train_epoch(data, 1)
    return model.state()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("out")
    parser.add_argument("--arch", default="fashion")
    parser.add_argument("--optimizer", default="momentum")
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--dtype", default="float32")
    parser.add_argument("--augment", default="crop,flip")
    parser.add_argument("--distributed", action="store_true")
    args = parser.parse_args()
    world = connect(True if args.distributed else None)
    state = train_steps(args.arch, args.optimizer, args.steps, args.batch_size, args.dtype, args.augment, world)
    # every rank must hold the same weights: rank 0 saves them with the largest difference to any rank
    spread = max(float(np.abs(world.sum(value.astype(np.float64)) / world.size - value).max())
                 for value in state.values())
    if world.is_root:
        np.savez(args.out, __spread__=np.array(spread), **state)
