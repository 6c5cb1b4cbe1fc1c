"""`volnet summary`: the layer-by-layer table of a model (see volnet.models.summary)."""

from __future__ import annotations

from pathlib import Path

STRING_INPUT_SHAPE = (1, 28, 28)


def input_shape(text: str) -> tuple[int, ...]:
    """Parse "D,H,W" (or "D" for vectors), e.g. "3,32,32"."""
    try:
        shape = tuple(int(part) for part in text.replace("x", ",").split(","))
    except ValueError:
        raise ValueError(f"--input-shape wants whole numbers D,H,W such as 3,32,32; got {text!r}") from None
    if not shape or min(shape) < 1:
        raise ValueError(f"--input-shape wants positive sizes D,H,W such as 3,32,32; got {text!r}")
    return shape


def register(subparsers):
    parser = subparsers.add_parser(
        "summary", help="layer-by-layer table of a preset, an architecture string or a saved model",
        description="Print a model's layers with their output volumes, parameters, multiply-adds and activation "
                    "memory, and the totals. SPEC is a preset name (tiny, fashion, cifar10, resnet-small), an "
                    "architecture string such as '[conv3-32 relu]*2 pool fc10', or a saved model file (.npz).")
    parser.add_argument("spec", metavar="SPEC_OR_MODEL", help="a preset, an architecture string or a .npz model file")
    parser.add_argument("--input-shape", metavar="D,H,W", help="the shape of one example; default: the preset's or "
                        "the saved model's, and 1,28,28 for an architecture string")
    parser.set_defaults(run=run)


def run(args) -> int:
    from volnet.models import PRESETS, build_model
    from volnet.models.summary import summary
    from volnet.training.run import load_trained_model

    shape = None if args.input_shape is None else input_shape(args.input_shape)
    if args.spec.endswith(".npz") or Path(args.spec).is_file():
        model = load_trained_model(args.spec)[0]
    elif args.spec.strip().lower() in PRESETS:
        model = build_model(args.spec, input_shape=shape)
    else:
        model = build_model(args.spec, input_shape=shape or STRING_INPUT_SHAPE)
    print(summary(model, shape))
    return 0
