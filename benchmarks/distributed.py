"""What data parallelism over MPI costs on this machine, and the numbers docs/distributed.md's model uses.

    python benchmarks/distributed.py [--quick] [--json FILE]

Runs itself under mpiexec (Open MPI or MPICH) and prints Markdown tables:

    steps       one training step (forward, loss, backward, gradient Allreduce, SGD with
                momentum) of each preset on a global batch of 64 random images, as
                1 rank × 2 threads, 2 ranks × 1 thread and 1 rank × 1 thread: median ms
                per step and examples/s (a rank's threads: OMP_NUM_THREADS)
    allreduce   the fused gradient Allreduce of each preset's parameter count
                (World.sum_gradients) between 2 ranks, and an 8-byte one (the latency)

    model       docs/distributed.md's cost model for 8–256 nodes at 10 and 100 Gb/s, from
                these measurements (`--model FILE` recomputes it from a saved --json)

Every rank runs the same fixed number of warm-up and timed repetitions (a time-based warm-up
could differ between ranks, and a collective called a different number of times hangs).
Two ranks on one machine talk through shared memory, not a network: the Allreduce figures
are a floor, and docs/distributed.md models the network from them.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

PRESETS = ("tiny", "fashion", "cifar10", "resnet-small")
LAYOUTS = ((1, 2), (2, 1), (1, 1))  # (ranks, threads per rank)
GLOBAL_BATCH = 64
# Open MPI refuses root and more ranks than cores unless told, and binds each of up to 2 ranks
# to one core, which would leave a rank's second thread without one; MPICH ignores these variables
OPEN_MPI_SETTINGS = {"OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1",
                     "OMPI_MCA_rmaps_base_oversubscribe": "1", "OMPI_MCA_hwloc_base_binding_policy": "none"}


def timed(function, warmup: int, repeats: int, before=None) -> tuple[float, float]:
    """The median and the least seconds of function() over `repeats` calls after `warmup` calls
    (fixed counts), each after an untimed before() if given. On a machine shared with other
    work the least is the one least disturbed."""
    for _ in range(warmup):
        function()
    seconds = []
    for _ in range(repeats):
        if before is not None:
            before()
        started = time.perf_counter()
        function()
        seconds.append(time.perf_counter() - started)
    return float(np.median(seconds)), float(np.min(seconds))


def worker(quick: bool, out: str) -> None:
    """On every rank of the job: time each preset's step and Allreduce; rank 0 writes the JSON."""
    from volnet.distributed import connect
    from volnet.models import build_model, get_preset
    from volnet.ops.parallel import blas_threads
    from volnet.optim import make_optimizer
    from volnet.training import Trainer

    world = connect(True)
    rng = np.random.default_rng(0)

    def meet():
        """A barrier (an Allreduce of one number): every rank arrives before a timing starts."""
        world.sum(np.zeros(1))

    results = {"ranks": world.size, "threads": blas_threads(), "presets": {}}
    for name in PRESETS:
        preset = get_preset(name)
        model = build_model(name, input_shape=preset.input_shape, seed=0)
        trainer = Trainer(model, make_optimizer("sgd", model.parameters(), lr=1e-3, momentum=0.9), progress=False,
                          log=lambda line: None, world=world)
        x = rng.standard_normal((GLOBAL_BATCH, *preset.input_shape), dtype=np.float32)[world.share(GLOBAL_BATCH)]
        labels = rng.integers(0, 10, GLOBAL_BATCH)[world.share(GLOBAL_BATCH)]
        heavy = name in ("cifar10", "resnet-small")
        repeats = 2 if quick else (5 if heavy else 12)
        step = timed(lambda: trainer.train_step(x, labels, GLOBAL_BATCH), 1, repeats)
        parameters = list(model.parameters().values())
        allreduce = timed(lambda: world.sum_gradients(parameters, [0.0, 0.0]), 3, 10 if quick else 100, meet)
        results["presets"][name] = {"parameters": int(sum(p.data.size for p in parameters)),
                                    "step_ms": 1e3 * step[0], "best_step_ms": 1e3 * step[1],
                                    "allreduce_ms": 1e3 * allreduce[0], "best_allreduce_ms": 1e3 * allreduce[1]}
    latency = np.zeros(1)
    results["latency_us"], results["best_latency_us"] = (1e6 * value for value in timed(lambda: world.sum(latency),
                                                                                         10, 200, meet))
    if world.is_root:
        Path(out).write_text(json.dumps(results))


def launch(ranks: int, threads: int, quick: bool) -> dict:
    """Run the worker under `mpiexec -n ranks` with `threads` BLAS threads per rank; its results."""
    if shutil.which("mpiexec") is None:
        sys.exit("benchmarks/distributed.py needs mpiexec: pip install 'volnet[mpi]' mpich, or apt-get install "
                 "openmpi-bin")
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "result.json"
        environment = {**os.environ, **OPEN_MPI_SETTINGS, "OMP_NUM_THREADS": str(threads),
                       "OPENBLAS_NUM_THREADS": str(threads)}
        command = ["mpiexec", "-n", str(ranks), sys.executable, __file__, "--worker", str(out)]
        subprocess.run(command + (["--quick"] if quick else []), check=True, env=environment)
        return json.loads(out.read_text())


def tables(runs: list[dict]) -> str:
    """The Markdown tables of the module doc."""
    names = [f"{run['ranks']} rank{'s' * (run['ranks'] > 1)} × {run['threads']} thread{'s' * (run['threads'] > 1)}"
             for run in runs]
    lines = [f"step of a global batch of {GLOBAL_BATCH}: median ms (least ms; examples/s at the median)", "",
             "| preset | parameters | " + " | ".join(names) + " |", "|---|---:|" + "---:|" * len(runs)]
    for name in PRESETS:
        cells = [f"{step['step_ms']:.0f} ({step['best_step_ms']:.0f}; {GLOBAL_BATCH / step['step_ms'] * 1e3:.0f})"
                 for step in (run["presets"][name] for run in runs)]
        lines.append(f"| {name} | {runs[0]['presets'][name]['parameters']:,} | " + " | ".join(cells) + " |")
    pair = next(run for run in runs if run["ranks"] == 2)
    lines += ["", f"fused gradient Allreduce between 2 ranks on this machine (shared memory); 8-byte Allreduce: "
                  f"median {pair['latency_us']:.1f} µs, least {pair['best_latency_us']:.1f} µs", "",
              "| preset | gradient bytes | Allreduce median ms | least ms | GB/s at the least (bytes / time) | "
              "median share of the 2-rank step |", "|---|---:|---:|---:|---:|---:|"]
    for name in PRESETS:
        measured = pair["presets"][name]
        size = 4 * measured["parameters"]
        lines.append(f"| {name} | {size / 2**20:.2f} MiB | {measured['allreduce_ms']:.2f} | "
                     f"{measured['best_allreduce_ms']:.2f} | "
                     f"{size / (measured['best_allreduce_ms'] * 1e-3) / 1e9:.2f} | "
                     f"{measured['allreduce_ms'] / measured['step_ms']:.1%} |")
    return "\n".join(lines)


NODES = (8, 16, 32, 64, 128, 256)
# link speed (Gb/s) -> (bytes/s, assumed per-message latency α): not measured here (one machine);
# typical of TCP over 10 Gb Ethernet and of 100 Gb/s InfiniBand or RoCE
NETWORKS = {10: (10e9 / 8, 25e-6), 100: (100e9 / 8, 2e-6)}
PER_NODE_BATCH = 64
FASTER = 10  # a many-core server node against this 2-core machine, for the efficiency table


def small_collectives(name: str) -> int:
    """The latency-bound collectives of one step besides the gradients': SyncBN's 3 per batch
    norm (2 forward, 1 backward), one per dropout layer (its rows) and the stop flag."""
    from volnet.layers import BatchNorm, Dropout
    from volnet.models import build_model, get_preset

    layers = [layer for _, layer in build_model(name, input_shape=get_preset(name).input_shape).named_layers()]
    return 3 * sum(isinstance(layer, BatchNorm) for layer in layers) + sum(isinstance(layer, Dropout)
                                                                          for layer in layers) + 1


def communication_seconds(parameters: int, nodes: int, bandwidth: float, latency: float,
                          small: int) -> tuple[float, float]:
    """(the ring Allreduce of the float32 gradients, 2(R−1)/R·bytes/β + 2(R−1)·α; the `small`
    latency-bound collectives, ⌈log₂ R⌉·α each by recursive doubling), in seconds."""
    ring = 2 * (nodes - 1) / nodes * 4 * parameters / bandwidth + 2 * (nodes - 1) * latency
    return ring, small * int(np.ceil(np.log2(nodes))) * latency


def cost_model(runs: list[dict]) -> str:
    """Per preset and link, against R: the communication of a step and b*, the per-node batch
    whose compute (at this machine's measured speed) takes as long; then the efficiency
    compute / step at PER_NODE_BATCH examples per node for nodes FASTER times this machine,
    without and with the gradients' Allreduce overlapped with the backward pass (2/3 of the
    compute; SyncBN's collectives stay on the critical path)."""
    node = next(run for run in runs if run["ranks"] == 1 and run["threads"] == max(r["threads"] for r in runs))
    header = ["| preset | link | " + " | ".join(f"R={nodes}" for nodes in NODES) + " |",
              "|---|---|" + "---:|" * len(NODES)]
    first = [f"communication per step, and b* = the per-node batch whose compute takes as long (a node as "
             f"fast as this machine with {node['threads']} threads, one rank, at its least step time)", "", *header]
    second = [f"efficiency (compute / step) at {PER_NODE_BATCH} examples per node, nodes {FASTER}× as fast as "
              "this machine: without → with overlap of the Allreduce and the backward pass", "", *header]
    for name in PRESETS:
        measured, small = node["presets"][name], small_collectives(name)
        per_example = measured["best_step_ms"] * 1e-3 / GLOBAL_BATCH  # the least disturbed
        compute = per_example * PER_NODE_BATCH / FASTER
        for speed, (bandwidth, latency) in NETWORKS.items():
            parts = [communication_seconds(measured["parameters"], nodes, bandwidth, latency, small)
                     for nodes in NODES]
            first.append(f"| {name} | {speed} Gb/s | " + " | ".join(
                f"{1e3 * (ring + rest):.1f} ms (b* {(ring + rest) / per_example:.1f})" for ring, rest in parts) + " |")
            second.append(f"| {name} | {speed} Gb/s | " + " | ".join(
                f"{compute / (compute + ring + rest):.0%} → "
                f"{compute / (compute + rest + max(0.0, ring - 2 / 3 * compute)):.0%}" for ring, rest in parts) + " |")
    return "\n".join(first + [""] + second)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repetitions")
    parser.add_argument("--json", metavar="FILE", help="also write the measurements as JSON")
    parser.add_argument("--model", metavar="FILE",
                        help="print the cost model from a JSON file written by --json; measure nothing")
    parser.add_argument("--worker", metavar="OUT", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.quick, args.worker)
        return
    if args.model:
        print(cost_model(json.loads(Path(args.model).read_text())))
        return
    runs = [launch(ranks, threads, args.quick) for ranks, threads in LAYOUTS]
    print(tables(runs) + "\n\n" + cost_model(runs))
    if args.json:
        Path(args.json).write_text(json.dumps(runs, indent=1))


if __name__ == "__main__":
    main()
