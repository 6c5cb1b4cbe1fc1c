"""Entry point of the `volnet` command.

Every module in volnet.cli (other than this one and those whose names start with "_") is a
subcommand: it defines `register(subparsers)`, which adds its parser and sets
`run=function(args) -> exit code`. User errors (ValueError, TypeError, OSError from bad input
or files) end with one clear message and exit status 2, never a traceback (volnet.errors.describe,
which says a library SettingError with the flag of each setting it names: volnet.errors.flag).
When the reader of the output goes away (`volnet eval MODEL | head -1`), the command stops quietly.
"""

from __future__ import annotations

import argparse
import difflib
import importlib
import os
import pkgutil
import re
import sys

import volnet.cli
from volnet.errors import describe, flag


class OneLineParser(argparse.ArgumentParser):
    """argparse's own errors (a bad type, an unknown flag, a misspelled command) as one line like
    volnet's other errors — "volnet train: error: ..." and exit status 2 — without the usage block;
    an invalid choice gets the nearest one as a did-you-mean. Sub-parsers inherit the class."""

    def error(self, message):
        choice = re.search(r"invalid choice: '(.*?)' \(choose from (.*)\)", message)
        if choice:
            close = difflib.get_close_matches(choice.group(1), re.findall(r"'([^']*)'", choice.group(2)), n=1)
            message += f"; did you mean '{close[0]}'?" if close else ""
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="volnet",
        description="ConvNets from first principles: train, inspect, visualise and benchmark them.",
    )
    parser.add_argument("--version", action="version", version=f"volnet {importlib.import_module('volnet').__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in sorted(m.name for m in pkgutil.iter_modules(volnet.cli.__path__)):
        if module != "main" and not module.startswith("_"):
            importlib.import_module(f"volnet.cli.{module}").register(subparsers)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args, unknown = parser.parse_known_args(argv)
    if args.command is None:  # `volnet` alone: the commands, as --help lists them
        parser.print_help()
        return 0
    if unknown:  # said by the subcommand that got them, which lists its own flags
        subcommands = next(action for action in parser._actions if isinstance(action, argparse._SubParsersAction))
        subcommands.choices[args.command].error(f"unrecognized arguments: {' '.join(unknown)}")
    command = " ".join(filter(None, (args.command, getattr(args, "picture", None))))
    try:
        code = args.run(args) or 0
        sys.stdout.flush()  # a reader that has gone shows up here rather than when Python exits
        return code
    except BrokenPipeError:
        # the standard idiom: point stdout at /dev/null so that Python's last flush cannot fail too
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except (ValueError, TypeError, OSError) as error:
        print(f"volnet {command}: error: {describe(error, flag)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"volnet {command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
