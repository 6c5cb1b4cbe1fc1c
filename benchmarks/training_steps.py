"""The training steps of `volnet bench` with one of volnet's step-level fast paths switched off
and on, in alternating rounds in one process (docs/performance.md, "Issue 16, second round").

    python benchmarks/training_steps.py [ROUNDS] [--only TEXT] [--switch NAME ...]

Switches (each "off" is the path volnet took before it):
    absorbing   Sequential's pairs (Layer.absorbs: batch norm + ReLU, ReLU + max pool) / every layer alone
    adam        the optimizer's update: one compiled pass per parameter / NumPy's passes

Each round times every net's step once per setting, so that a change in the machine's load hits
both settings alike; the table gives the medians over the rounds of the wall time and of the
process's CPU time (both threads: on a loaded machine, the work a step did rather than how long
it waited for a core).
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


def timed_step(step):
    """(wall seconds, CPU seconds) of one step."""
    wall, cpu = time.perf_counter(), time.process_time()
    step()
    return time.perf_counter() - wall, time.process_time() - cpu


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("rounds", nargs="?", type=int, default=21)
    parser.add_argument("--only", default="")
    parser.add_argument("--switch", nargs="+", default=list(SWITCHES), choices=list(SWITCHES))
    arguments = parser.parse_args()
    if arguments.rounds < 1:
        parser.error(f"rounds must be at least 1, got {arguments.rounds}")
    nets = [(name, spec, shape) for name, spec, shape in NETS if arguments.only in name]
    if not nets:
        parser.error(f"--only {arguments.only!r} names no net; the nets are {', '.join(name for name, *_ in NETS)}")
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
            for name, step in steps.items():
                for on in (False, True):
                    with SWITCHES[switch](on):
                        times[name, on].append(timed_step(step))
        for name in steps:
            (off_wall, off_cpu), (on_wall, on_cpu) = (
                [1e3 * statistics.median(run[kind] for run in times[name, state]) for kind in (0, 1)]
                for state in (False, True))
            print(f"{switch:10s} {name:26s} wall off {off_wall:7.1f} on {on_wall:7.1f} ms ({off_wall / on_wall:4.2f}×)"
                  f"   CPU off {off_cpu:7.1f} on {on_cpu:7.1f} ms ({off_cpu / on_cpu:4.2f}×)")
    with open("/proc/loadavg") as load:
        print(f"load after: {load.read().split()[0]}")


if __name__ == "__main__":
    main()
