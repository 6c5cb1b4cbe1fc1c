"""`volnet bench`: time volnet against PyTorch on this machine (see volnet.bench; its options and
run are volnet.bench.__main__'s, which `python -m volnet.bench` also uses)."""

from __future__ import annotations


def register(subparsers):
    from volnet.bench.__main__ import DESCRIPTION, add_arguments, run

    parser = subparsers.add_parser(
        "bench", help="time volnet against PyTorch: layers, training steps, peak memory", description=DESCRIPTION)
    add_arguments(parser)
    parser.set_defaults(run=run)
