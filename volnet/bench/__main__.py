"""`python -m volnet.bench`: `volnet bench` without the volnet command, with the same options.

The options and what they do are defined here once; volnet.cli.bench adds them to `volnet bench`.
"""

from __future__ import annotations

import argparse
import sys

DESCRIPTION = ("Time volnet and PyTorch on the same inputs with the same number of threads: Conv2D at reference "
               "shapes, pooling, Linear, batch norm, and whole training steps; print a table of medians, ratios and "
               "GFLOP/s against the measured matmul peak.")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The benchmark's options, on `parser`."""
    parser.add_argument("--quick", action="store_true", help="fewer repeats, memory of the small net only (< 1 min)")
    parser.add_argument("--json", metavar="FILE", help="also write the results as JSON to FILE")
    parser.add_argument("--no-memory", dest="memory", action="store_false",
                        help="skip the peak-memory subprocesses")
    parser.add_argument("--only", metavar="TEXT", help="only the cases whose name contains TEXT")


def run(args) -> int:
    """Time the cases the options choose; the table goes to stdout, progress to stderr."""
    from volnet.bench import run_benchmark, table, write_json

    results = run_benchmark(quick=args.quick, memory=args.memory, only=args.only,
                            log=lambda line: print(line, file=sys.stderr))
    if not results["torch"]:
        print("PyTorch is not installed: timing volnet only.", file=sys.stderr)
    print(table(results))
    if args.json:
        write_json(results, args.json)
    return 0


def main(argv=None) -> int:
    """python -m volnet.bench [--quick] [--json FILE] [--no-memory] [--only TEXT]; a user error
    (a file that cannot be written) is one line and exit status 2, as in the volnet command."""
    from volnet.errors import describe

    parser = argparse.ArgumentParser(prog="python -m volnet.bench", description=DESCRIPTION)
    add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        return run(args)
    except (ValueError, TypeError, OSError) as error:
        print(f"{parser.prog}: error: {describe(error)}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
