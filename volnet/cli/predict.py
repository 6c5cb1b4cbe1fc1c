"""`volnet predict`: the top classes of a saved model for image files or dataset examples."""

from __future__ import annotations

from volnet.cli._shared import load_split, refuse_ignored
from volnet.errors import AT_LEAST_1, check_settings


def register(subparsers):
    parser = subparsers.add_parser(
        "predict", help="top-k classes with probabilities for image files or dataset examples",
        description="Classify image files (converted to the model's channels and resized to its input, as the "
                    "model was trained) or examples of a dataset split chosen by --index, and print the top-k "
                    "classes with their softmax probabilities.")
    parser.add_argument("model", metavar="MODEL", help="a model file written by `volnet train` (model.npz), or the "
                                                       "output folder of `volnet train`")
    parser.add_argument("images", metavar="IMAGE", nargs="*", help="image files (any format Pillow reads)")
    parser.add_argument("--index", metavar="N", type=int, nargs="+",
                        help="positions of examples in a dataset split (instead of image files)")
    parser.add_argument("--dataset", help="the dataset for --index; default: the one the model was trained on")
    parser.add_argument("--split", choices=("train", "test"), help="the split for --index; default test")
    parser.add_argument("--data-dir", metavar="DIR", help="look for the dataset files here first")
    parser.add_argument("--top-k", type=int, default=3, metavar="K",
                        help="classes shown per image (at most the model's number of classes); default %(default)s")
    parser.add_argument("--invert", action="store_true",
                        help="invert the image files (255 − pixel): for a dark object on a light background when the "
                             "model learnt light objects on black, as Fashion-MNIST's")
    parser.set_defaults(run=run)


# how far an image's mean brightness (0–1) may lie from the training images' before it is said
UNLIKE = 0.3


def warn_if_inverted(paths, images, training_mean: float) -> None:
    """Warn (stderr) about each image whose brightness is far from the training images' and whose
    inverse would be close: a dark object on a light background for a model of light-on-black images."""
    import sys

    for path, image in zip(paths, images):
        mean = image.mean() / 255
        if abs(mean - training_mean) > UNLIKE and abs(1 - mean - training_mean) < abs(mean - training_mean) / 2:
            print(f"volnet predict: warning: {path} has a mean brightness of {mean:.2f} where the model's training "
                  f"images have {training_mean:.2f}: it looks inverted (e.g. a dark object on a light background); "
                  "if so, add --invert", file=sys.stderr)


def run(args) -> int:
    import numpy as np

    from volnet.data import Dataset
    from volnet.training import load_trained_model, predict_proba

    if not args.images and not args.index:
        raise ValueError("nothing to classify: give image files (volnet predict MODEL shoe.png) or dataset "
                         "positions (volnet predict MODEL --index 0 1 2)")
    if args.images and args.index:
        files = f"{len(args.images)} image file{'s' if len(args.images) > 1 else ''}"
        raise ValueError(f"give image files or --index, not both (got {files} and --index "
                         f"{' '.join(map(str, args.index))}): --index picks examples of a dataset split instead")
    if args.images:
        refuse_ignored(args, "on image files: --dataset, --split and --data-dir choose the split that --index "
                             "picks from",
                       "dataset", "split", "data_dir")
    else:
        refuse_ignored(args, "with --index: the dataset's images are already like those the model learnt", "invert")
    check_settings(args, top_k=AT_LEAST_1)
    model, normalization, class_names, metadata = load_trained_model(args.model)
    classes = model.output_shape(model.input_shape)[0]
    if args.top_k > classes:
        raise ValueError(f"--top-k {args.top_k} is more than the {classes} classes of {args.model}; give at most "
                         f"--top-k {classes}")
    depth, height, width = model.input_shape
    if args.images:
        from volnet.viz.images import load_image

        images = np.stack([load_image(path, depth, width, height) for path in args.images])
        if args.invert:
            images = 255 - images
        elif normalization is not None:
            warn_if_inverted(args.images, images, float(np.mean(normalization.mean)))
        names = class_names or [f"class {k}" for k in range(model.output_shape(model.input_shape)[0])]
        examples, labels = Dataset(images, np.zeros(len(images), np.int64), names, "images"), [None] * len(images)
        titles = list(args.images)
    else:
        split = load_split(args, args.dataset or metadata.get("dataset") or "sample", args.split or "test",
                           class_names)
        bad = [index for index in args.index if not 0 <= index < len(split)]
        if bad:
            raise ValueError(f"--index {bad[0]} is outside {split.name}, which has positions 0 to {len(split) - 1}")
        examples = split.subset(np.asarray(args.index))
        labels, names = examples.labels, class_names or split.class_names
        titles = [f"{split.name}[{index}]" for index in args.index]
    probabilities = predict_proba(model, examples, normalize=normalization)
    for title, label, row in zip(titles, labels, probabilities):
        top = np.argsort(row)[::-1][:args.top_k]
        truth = "" if label is None else f" (true: {names[label]})"
        print(f"{title}{truth}: " + ", ".join(f"{names[k]} {row[k]:.1%}" for k in top))
    return 0
