"""`volnet bench`: time volnet against PyTorch on this machine (see volnet.bench)."""

from __future__ import annotations

import sys


def register(subparsers):
    parser = subparsers.add_parser(
        "bench", help="time volnet against PyTorch: layers, training steps, peak memory",
        description="Time volnet and PyTorch on the same inputs with the same number of threads: Conv2D at "
                    "reference shapes, pooling, Linear, batch norm, and whole training steps; print a table of "
                    "medians, ratios and GFLOP/s against the measured matmul peak.")
    parser.add_argument("--quick", action="store_true", help="fewer repeats, memory of the small net only (< 1 min)")
    parser.add_argument("--json", metavar="FILE", help="also write the results as JSON to FILE")
    parser.add_argument("--no-memory", dest="memory", action="store_false",
                        help="skip the peak-memory subprocesses")
    parser.add_argument("--only", metavar="TEXT", help="only the cases whose name contains TEXT")
    parser.set_defaults(run=run)


def run(args) -> int:
    from volnet.bench import run_benchmark, table, write_json

    results = run_benchmark(quick=args.quick, memory=args.memory, only=args.only,
                            log=lambda line: print(line, file=sys.stderr))
    if not results["torch"]:
        print("PyTorch is not installed: timing volnet only.", file=sys.stderr)
    print(table(results))
    if args.json:
        write_json(results, args.json)
    return 0
