"""Entry point of the `volnet` command.

Every module in volnet.cli (other than this one) is a subcommand: it defines
`register(subparsers)`, which adds its parser and sets `run=function(args) -> exit code`.
User errors (ValueError, TypeError, OSError from bad input or files) end with one clear
message and exit status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys

import volnet.cli


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="volnet",
        description="ConvNets from first principles: train, inspect, visualise and benchmark them.",
    )
    parser.add_argument("--version", action="version", version=f"volnet {importlib.import_module('volnet').__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in sorted(m.name for m in pkgutil.iter_modules(volnet.cli.__path__)):
        if module != "main":
            importlib.import_module(f"volnet.cli.{module}").register(subparsers)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.run(args) or 0
    except (ValueError, TypeError, OSError) as error:
        print(f"volnet {args.command}: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"volnet {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
