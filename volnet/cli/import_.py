"""`volnet import`: an ONNX model or PyTorch weights (safetensors) as a volnet model file.

(The module is import_.py because `import` is a Python keyword; the command is `volnet import`.)
"""

from __future__ import annotations

from pathlib import Path

from volnet.cli._shared import input_shape, writable_file


def register(subparsers):
    parser = subparsers.add_parser(
        "import", help="turn an .onnx model or .safetensors weights into a volnet model.npz",
        description="Read an ONNX model (the layers volnet has: Conv, pooling, Gemm, batch norm, activations, "
                    "residual Adds) or a safetensors state_dict of a model's PyTorch twin, and save it as a volnet "
                    "model file that eval, predict, show and export take. A pickled PyTorch file (.pt, .pth) is "
                    "refused, with the command that converts it safely.")
    parser.add_argument("file", metavar="FILE", help="an .onnx or .safetensors file")
    parser.add_argument("-o", "--out", metavar="MODEL", help="the volnet model file to write; default: FILE with "
                                                             "the suffix .npz")
    parser.add_argument("--arch", metavar="SPEC", help="for a safetensors file PyTorch wrote: the preset or "
                                                       "architecture string of its twin (volnet's own files carry it)")
    parser.add_argument("--input-shape", metavar="D,H,W", help="with --arch: the shape of one example; default: the "
                                                               "preset's")
    parser.add_argument("--force", action="store_true", help="replace MODEL if it exists")
    parser.set_defaults(run=run)


def run(args) -> int:
    from volnet.interop import check_importable, import_model
    from volnet.layers import format_shape
    from volnet.models import save_model

    if args.input_shape is not None and args.arch is None:
        raise ValueError("--input-shape goes with --arch (the shape the architecture is built for); give both")
    source = Path(args.file)
    check_importable(source)  # what is wrong with FILE comes before what is in the way of -o
    out = writable_file(args.out or source.with_suffix(".npz"), "out")
    if out.exists() and not args.force:
        raise ValueError(f"-o {out} exists; give another file, or --force to replace it")
    if out.resolve() == source.resolve():
        raise ValueError(f"-o {out} is FILE itself; give another file")
    shape = None if args.input_shape is None else input_shape(args.input_shape)
    try:
        model, metadata = import_model(source, args.arch, shape)
    except ModuleNotFoundError as error:  # the onnx extra is not installed
        raise ValueError(f"{source}: {error}") from None
    save_model(out, model, metadata={"normalization": metadata["normalization"], "imported_from": str(source)},
               class_names=metadata["class_names"])
    layers = sum(1 for _, layer in model.named_layers() if not layer.children())
    print(f"imported {source} into {out}: {layers} layers, input {format_shape(model.input_shape)}"
          + ("" if metadata["normalization"] else ", no normalisation")
          + ("" if metadata["class_names"] else ", no class names")
          + f"; try: volnet summary {out}")
    return 0
