"""How the cost of a training step grows with batch size, image size and depth.

    python benchmarks/scaling.py [--quick] [--json FILE]

Times one full training step (forward, loss, backward, Adam) of volnet and PyTorch on the
same net, the same batch and the same number of threads (see volnet.bench), varying one
thing at a time from the small Fashion-MNIST net at batch 128 on 28×28×1:
    batch size   32, 64, 128, 256
    image size   28×28, 56×56, 112×112 (a batch of 32: the same net, so fc grows too)
    depth        1, 2, 3, 4 blocks of [conv3-32 relu] before the pool
Prints Markdown tables (milliseconds, per-example milliseconds, volnet/PyTorch).
"""

from __future__ import annotations

import argparse
import json

from volnet.bench import import_torch
from volnet.bench.steps import batch, torch_step, volnet_step
from volnet.bench.timing import median_seconds
from volnet.ops.parallel import blas_threads

SMALL = "conv3-32 relu pool conv3-64 relu pool fc128 relu fc10"


def time_step(spec, input_shape, batch_size, repeats, torch):
    x, labels = batch(input_shape, batch_size=batch_size)
    step, model = volnet_step(spec, input_shape, x, labels)
    ours = median_seconds(step, repeats, 1)
    theirs = median_seconds(torch_step(model, x, labels)[0], repeats, 1) if torch else None
    return {"spec": spec, "input_shape": list(input_shape), "batch": batch_size,
            "volnet_ms": 1e3 * ours, "torch_ms": None if theirs is None else 1e3 * theirs}


def sweeps(quick: bool):
    batches = [32, 128] if quick else [32, 64, 128, 256]
    sizes = [28, 56] if quick else [28, 56, 112]
    depths = [1, 2] if quick else [1, 2, 3, 4]
    return {
        "batch size": [(SMALL, (1, 28, 28), n) for n in batches],
        "image size": [(SMALL, (1, s, s), 32) for s in sizes],
        "depth": [(" ".join(["conv3-32 relu"] * d) + " pool conv3-64 relu pool fc128 relu fc10", (1, 28, 28), 128)
                  for d in depths],
    }


def markdown(name, rows):
    lines = [f"| {name} | volnet ms | ms per example | PyTorch ms | volnet/PyTorch |", "|---|---:|---:|---:|---:|"]
    for row in rows:
        label = {"batch size": str(row["batch"]), "image size": "×".join(map(str, row["input_shape"][1:])),
                 "depth": str(row["spec"].count("conv3-32"))}[name]
        ratio = "—" if row["torch_ms"] is None else f"{row['volnet_ms'] / row['torch_ms']:.2f}"
        torch_ms = "—" if row["torch_ms"] is None else f"{row['torch_ms']:.1f}"
        lines.append(f"| {label} | {row['volnet_ms']:.1f} | {row['volnet_ms'] / row['batch']:.2f} | {torch_ms} | {ratio} |")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--json", metavar="FILE")
    args = parser.parse_args()
    torch = import_torch(blas_threads())
    repeats = 3 if args.quick else 7
    results = {}
    for name, settings in sweeps(args.quick).items():
        results[name] = [time_step(spec, shape, n, repeats, torch) for spec, shape, n in settings]
        print(markdown(name, results[name]) + "\n", flush=True)
    if args.json:
        with open(args.json, "w") as out:
            json.dump({"threads": blas_threads(), "sweeps": results}, out, indent=2)


if __name__ == "__main__":
    main()
