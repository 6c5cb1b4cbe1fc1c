"""`volnet eval`: measure a saved model on a dataset split (see volnet.training.metrics)."""

from __future__ import annotations

from pathlib import Path

from volnet.cli._shared import load_split, refuse_ignored, writable_file, writable_folder
from volnet.errors import AT_LEAST_1, check_settings
from volnet.run_folder import model_file

MISCLASSIFIED_SHOWN = 32


def register(subparsers):
    parser = subparsers.add_parser(
        "eval", help="accuracy, per-class accuracy and confusion matrix of a saved model",
        description="Evaluate a model saved by `volnet train` on a dataset split: print the accuracy, the accuracy "
                    "of every class and the confusion matrix, and draw confusion.png and misclassified.png (the "
                    f"first {MISCLASSIFIED_SHOWN} misclassified images; with --tta confusion-tta.png and "
                    "misclassified-tta.png) into the output folder. The model file "
                    "holds the normalisation and the class names, so nothing else is needed.")
    parser.add_argument("model", metavar="MODEL", nargs="?", help="a model file written by `volnet train` (model.npz), or the "
                                                       "output folder of `volnet train`")
    parser.add_argument("--dataset", help="sample, fashion-mnist, mnist, cifar10 or an image folder; default: the "
                                          "dataset the model was trained on")
    parser.add_argument("--split", default="test", choices=("train", "test"), help="default %(default)s")
    parser.add_argument("--data-dir", metavar="DIR", help="look for the dataset files here first")
    parser.add_argument("--download", action="store_true", help="download missing dataset files")
    parser.add_argument("--batch-size", type=int, default=256, help="examples per forward pass; default %(default)s")
    parser.add_argument("--tta", nargs="?", const=True, default=False, metavar="VIEWS",
                        help="test-time augmentation: average each image's prediction over views of it: flip (the "
                             "image and its mirror, as bare --tta), shift (and its shifts by one pixel), flip,shift "
                             "(10 views)")
    parser.add_argument("--out", metavar="DIR", help="folder for the pictures; default: the model's folder")
    parser.add_argument("--no-pictures", dest="pictures", action="store_false", help="print the tables only")
    parser.add_argument("--metrics-out", metavar="FILE", help="also write the metrics as JSON to FILE")
    parser.set_defaults(run=run)


def _model_after_bare_tta(args) -> None:
    """`volnet eval --tta MODEL`: argparse gives MODEL to --tta's optional VIEWS; when what it took
    is no view word, it is the model, and --tta is bare (the image and its mirror)."""
    from volnet.training.metrics import tta_views

    if args.model is not None:
        return
    if isinstance(args.tta, str):
        try:
            tta_views(args.tta)
        except ValueError:
            args.model, args.tta = args.tta, True
            return
    raise ValueError("the following arguments are required: MODEL (a model file written by `volnet train`, or its "
                       "output folder)")


def run(args) -> int:
    import json

    import numpy as np

    from volnet.training import evaluate, load_trained_model
    from volnet.training.metrics import describe_tta, tta_views

    check_settings(args, batch_size=AT_LEAST_1)
    _model_after_bare_tta(args)
    tta_views(args.tta)
    if not args.pictures:
        refuse_ignored(args, "with --no-pictures: it is the folder for the pictures", "out")
    path = model_file(args.model)
    # the outputs are checked before the (slow) evaluation, so that a bad path does not waste it
    out = writable_folder(args.out or path.parent, "out") if args.pictures else None
    if args.metrics_out:
        writable_file(args.metrics_out, "metrics_out")
    model, normalization, class_names, metadata = load_trained_model(path)
    dataset = load_split(args, args.dataset or metadata.get("dataset") or "sample", args.split, class_names)
    result = evaluate(model, dataset, args.batch_size, normalization, tta=args.tta)
    print(f"{path} on {dataset.name} ({len(dataset)} images{', ' + describe_tta(args.tta) if args.tta else ''})")
    print(result.report())
    if args.metrics_out:
        Path(args.metrics_out).write_text(json.dumps(result.to_dict(), indent=1))
        print(f"wrote {args.metrics_out}")
    if out is not None:
        from volnet.viz.evaluation import plot_confusion_matrix, plot_misclassified

        out.mkdir(parents=True, exist_ok=True)
        suffix = "-tta" if args.tta else ""  # --tta's pictures stand beside the plain ones
        written = [plot_confusion_matrix(result.confusion, result.class_names, out / f"confusion{suffix}.png")]
        wrong = np.flatnonzero(result.predictions != dataset.labels)[:MISCLASSIFIED_SHOWN]
        if len(wrong):
            written.append(plot_misclassified(dataset.images[wrong], dataset.labels[wrong], result.predictions[wrong],
                                              result.class_names, out / f"misclassified{suffix}.png"))
        print("wrote " + ", ".join(map(str, written)))
    return 0
