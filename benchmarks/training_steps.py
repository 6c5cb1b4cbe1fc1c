"""The training steps of `volnet bench` with one of volnet's step-level fast paths switched off
and on, in alternating rounds in one process (docs/performance.md, "Issue 16, second round").

    python benchmarks/training_steps.py [ROUNDS] [--only TEXT] [--switch NAME ...]

Switches (each "off" is the path volnet took before it):
    absorbing   Sequential's pairs (Layer.absorbs: batch norm + ReLU, ReLU + max pool) / every layer alone
    adam        the optimizer's update: one compiled pass per parameter / NumPy's passes

Each round times every net's step once per setting (the median of 5 steps), so that a change in
the machine's load hits both settings alike; the table gives the medians over the rounds.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import time

from volnet.bench.steps import NETS, batch, volnet_step
from volnet.layers import Sequential
from volnet.optim import optimizers


@contextlib.contextmanager
def absorbing(on: bool):
    """Sequential's pairs as shipped, or every layer run alone (the Layer default: absorbs nothing)."""
    if on:
        yield
        return
    saved = Sequential._units
    Sequential._units = lambda self: [(layer, None) for layer in self.layers]
    try:
        yield
    finally:
        Sequential._units = saved


@contextlib.contextmanager
def adam(on: bool):
    """Adam's compiled pass, or its NumPy passes (as without numba)."""
    saved = optimizers.update_kernels_for
    if not on:
        optimizers.update_kernels_for = lambda *arrays: None
    try:
        yield
    finally:
        optimizers.update_kernels_for = saved


SWITCHES = {"absorbing": absorbing, "adam": adam}


def median_step(step, repeats=5):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("rounds", nargs="?", type=int, default=7)
    parser.add_argument("--only", default="")
    parser.add_argument("--switch", nargs="+", default=list(SWITCHES), choices=list(SWITCHES))
    arguments = parser.parse_args()
    nets = [(name, spec, shape) for name, spec, shape in NETS if arguments.only in name]
    steps = {}
    for name, spec, shape in nets:
        x, labels = batch(shape)
        steps[name] = volnet_step(spec, shape, x, labels)[0]
        steps[name]()  # the first step compiles and allocates
    with open("/proc/loadavg") as load:
        print(f"load before: {load.read().split()[0]}; {arguments.rounds} rounds")
    for switch in arguments.switch:
        times = {(name, on): [] for name in steps for on in (False, True)}
        for _ in range(arguments.rounds):
            for on in (False, True):
                with SWITCHES[switch](on):
                    for name, step in steps.items():
                        times[name, on].append(median_step(step))
        for name in steps:
            off, on = (1e3 * statistics.median(times[name, state]) for state in (False, True))
            print(f"{switch:10s} {name:26s} off {off:7.1f} ms   on {on:7.1f} ms   {off / on:5.2f}×")
    with open("/proc/loadavg") as load:
        print(f"load after: {load.read().split()[0]}")


if __name__ == "__main__":
    main()
