"""`volnet summary`: the layer-by-layer table of a model (see volnet.models.summary)."""

from __future__ import annotations

from volnet.cli._shared import STRING_INPUT_SHAPE, input_shape, model_from_spec, refuse_ignored


def register(subparsers):
    parser = subparsers.add_parser(
        "summary", help="layer-by-layer table of a preset, an architecture string or a saved model",
        description="Print a model's layers with their output volumes, parameters, multiply-adds and activation "
                    "memory, and the totals. SPEC is a preset name (tiny, fashion, cifar10, resnet-small), an "
                    "architecture string such as '[conv3-32 relu]*2 pool fc10', or a saved model (a .npz file, or "
                    "the output folder of `volnet train`).")
    parser.add_argument("spec", metavar="SPEC_OR_MODEL", nargs="?",
                        help="a preset, an architecture string or a saved model; without it, the presets are listed")
    parser.add_argument("--input-shape", metavar="D,H,W", help="the shape of one example; default: the preset's or "
                        f"the saved model's, and {','.join(map(str, STRING_INPUT_SHAPE))} for an architecture string")
    parser.set_defaults(run=run)


def run(args) -> int:
    from volnet.models.summary import summary

    if args.spec is None:
        from volnet.models import list_presets

        refuse_ignored(args, "without a SPEC_OR_MODEL to build for it", "input_shape")
        print("presets (volnet summary PRESET shows one's layers):")
        for preset in list_presets():
            print(f"  {preset.name:<13} {preset.description}")
        return 0
    shape = None if args.input_shape is None else input_shape(args.input_shape)
    print(summary(model_from_spec(args.spec, shape)[0], shape))
    return 0
