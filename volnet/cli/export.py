"""`volnet export`: a saved model as ONNX, as PyTorch weights (safetensors) or as ConvNetJS JSON."""

from __future__ import annotations

from pathlib import Path

from volnet.cli._shared import writable_file
from volnet.run_folder import model_file

# what each format's file is for, after "wrote FILE: "
_USES = {
    "onnx": "ONNX opset {opset}; input 'pixels' (N, {shape}) float32 pixel values 0-255, outputs 'probabilities' "
            "and 'scores'; run it with onnxruntime (README: Use your model elsewhere)",
    "safetensors": "the state_dict of the model's PyTorch twin; in PyTorch: "
                   "twin.load_state_dict(safetensors.torch.load_file(FILE), strict=True), the twin being "
                   "volnet.bench.mirror.to_torch(model)",
    "convnetjs": "ConvNetJS JSON for net.fromJSON(); feed it W×H×D volumes normalised as its \"volnet\" entry says",
}


def register(subparsers):
    parser = subparsers.add_parser(
        "export", help="write a saved model as ONNX, PyTorch safetensors or ConvNetJS JSON",
        description="Write a model saved by `volnet train` in another format: onnx (runs in any ONNX runtime; the "
                    "model's normalisation is inside, so it takes the pixels `volnet predict` takes), safetensors "
                    "(the state_dict of the equivalent torch.nn.Sequential, no pickle) or convnetjs (JSON for "
                    "ConvNetJS in the browser, batch norm folded into the convolutions).")
    parser.add_argument("model", metavar="MODEL", help="a model file written by `volnet train` (model.npz), or the "
                                                       "output folder of `volnet train`")
    parser.add_argument("--format", choices=("onnx", "safetensors", "convnetjs"),
                        help="default: from the suffix of -o (.onnx, .safetensors, .json)")
    parser.add_argument("-o", "--out", metavar="FILE", help="the file to write; default: next to MODEL, named after "
                                                            "the format (model.onnx, model.safetensors, model.json)")
    parser.set_defaults(run=run)


def run(args) -> int:
    from volnet.interop import FORMATS, OPSET, export_model, format_of
    from volnet.training import load_trained_model

    if args.format is None and args.out is None:
        raise ValueError("say which format: --format onnx, safetensors or convnetjs (or -o FILE with a suffix "
                         "that names one: .onnx, .safetensors, .json)")
    path = model_file(args.model)
    chosen = format_of(args.out, args.format)
    out = writable_file(args.out or path.with_suffix(FORMATS[chosen][1]), "out")
    model, normalization, class_names, _ = load_trained_model(path)
    try:
        export_model(model, out, chosen, normalization, class_names)
    except ModuleNotFoundError as error:  # the onnx extra is not installed
        raise ValueError(f"--format {chosen}: {error}") from None
    use = _USES[chosen].format(opset=OPSET, shape=", ".join(map(str, model.input_shape)))
    print(f"wrote {out} ({Path(out).stat().st_size / 2**20:.2f} MiB): {use}")
    return 0
