"""Before and after: time the fast ops of two versions of volnet on the same machine.

    python benchmarks/revisions.py REV [--repeats N]

Extracts volnet/ as it was at git revision REV (e.g. the commit before an optimisation)
into a temporary folder, then times, in a fresh interpreter for each version, the same
ops at the benchmark's reference shapes (batch 128, float32): Conv2D forward+backward,
2×2 max pooling forward+backward, ReLU backward, and forward+backward of the small
Fashion-MNIST net built from layers (no optimizer: older revisions may lack one).
Prints a Markdown table: milliseconds before, after, and the speed-up.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import subprocess
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parent.parent

# Runs inside each interpreter, against whichever volnet is first on sys.path.
PROGRAM = r'''
import json, sys, time
import numpy as np
from volnet.layers import Conv2D, Linear, MaxPool2D, ReLU, Sequential
from volnet.ops.activation import relu_backward, relu_forward

repeats = int(sys.argv[1])
rng = np.random.default_rng(0)

def median_ms(function):
    function()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return 1e3 * float(np.median(times))

def forward_backward(layer, shape):
    x = rng.standard_normal((128, *shape), dtype=np.float32)
    dout = rng.standard_normal(layer.forward(x).shape, dtype=np.float32)
    return lambda: (layer.forward(x), layer.backward(dout))

cases = {}
for name, depth, filters, size, stride, pad, hw in [
        ("3→32 F5 P2 32×32", 3, 32, 5, 1, 2, 32), ("32→64 F3 P1 16×16", 32, 64, 3, 1, 1, 16),
        ("64→128 F3 P1 8×8", 64, 128, 3, 1, 1, 8), ("64→128 F3 S2 P1 15×15", 64, 128, 3, 2, 1, 15),
        ("1→32 F3 P1 28×28", 1, 32, 3, 1, 1, 28), ("32→64 F3 P1 14×14", 32, 64, 3, 1, 1, 14)]:
    cases[f"Conv2D {name} forward+backward"] = forward_backward(Conv2D(filters, size, stride, pad), (depth, hw, hw))
cases["MaxPool 2×2 S2 32×28×28 forward+backward"] = forward_backward(MaxPool2D(2), (32, 28, 28))
activations = rng.standard_normal((128, 32, 28, 28), dtype=np.float32)
_, positive = relu_forward(activations)
cases["ReLU backward 32×28×28"] = lambda: relu_backward(activations, positive)
net = Sequential([Conv2D(32, 3, pad=1), ReLU(), MaxPool2D(2), Conv2D(64, 3, pad=1), ReLU(), MaxPool2D(2),
                  Linear(128), ReLU(), Linear(10)], input_shape=(1, 28, 28), seed=0)
cases["small net forward+backward"] = forward_backward(net, (1, 28, 28))
import os, volnet
timings = {name: median_ms(case) for name, case in cases.items()}
print(json.dumps({**timings, "volnet": os.path.dirname(os.path.realpath(volnet.__file__))}))
'''


def time_tree(path, repeats):
    """The PROGRAM's timings with the volnet found in folder `path`."""
    environment = {**os.environ, "PYTHONPATH": str(path)}
    done = subprocess.run([sys.executable, "-c", PROGRAM, str(repeats)], capture_output=True, text=True,
                          cwd=path, env=environment, check=True)
    timings = json.loads(done.stdout.strip().splitlines()[-1])
    assert timings.pop("volnet") == str(pathlib.Path(path, "volnet").resolve()), "timed the wrong volnet"
    return timings


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("revision")
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as before:
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", args.revision, "volnet"],
                                 capture_output=True, check=True).stdout
        subprocess.run(["tar", "-x", "-C", before], input=archive, check=True)
        old = time_tree(before, args.repeats)
    new = time_tree(ROOT, args.repeats)
    print(f"| case | {args.revision} ms | now ms | speed-up |\n|---|---:|---:|---:|")
    for name in new:
        print(f"| {name} | {old[name]:.1f} | {new[name]:.1f} | {old[name] / new[name]:.1f}× |")


if __name__ == "__main__":
    main()
