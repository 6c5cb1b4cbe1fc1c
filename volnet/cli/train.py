"""`volnet train`: train a ConvNet on a dataset and save it (see volnet.training.run)."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from volnet.models import get_preset
from volnet.optim import SCHEDULES
from volnet.training.run import OPTIMIZER_NAMES, TrainingConfig
from volnet.training.trainer import LAST_CHECKPOINT, MONITORS

DEFAULTS = TrainingConfig()


def register(subparsers):
    parser = subparsers.add_parser(
        "train", help="train a ConvNet and save it (with no options: the embedded Fashion-MNIST sample, ~1 min)",
        description="Train a ConvNet with mini-batch gradient descent: a validation split, a loss/accuracy line per "
                    "epoch, a checkpoint every epoch (and the best one), then the test accuracy. The output folder "
                    "gets model.npz (everything `volnet eval` and `volnet predict` need), history.json, "
                    "metrics.json and curves.png. With no options it trains the 'tiny' preset on volnet's "
                    "embedded 10,000-image Fashion-MNIST sample, offline, to > 85% test accuracy in about a "
                    "minute on 2 CPU cores.")
    data = parser.add_argument_group("data")
    data.add_argument("--dataset", default=DEFAULTS.dataset,
                      help="sample (embedded, offline), fashion-mnist, mnist, cifar10, or an image folder "
                           "(one sub-folder per class); default %(default)s")
    data.add_argument("--data-dir", metavar="DIR", help="look for the dataset files here first")
    data.add_argument("--download", action="store_true", help="download missing dataset files (checked by MD5)")
    data.add_argument("--augment", default=DEFAULTS.augment, metavar="LIST",
                      help="comma-separated: crop (random shift by up to H/8 pixels), crop:N, flip; "
                           "e.g. crop,flip; default none")
    data.add_argument("--val-fraction", type=float, default=DEFAULTS.val_fraction, metavar="FRACTION",
                      help="share of the training split held out for validation (0: none); default %(default)s")
    data.add_argument("--limit", type=int, metavar="N",
                      help="train on N random training examples only (quick trials)")
    model = parser.add_argument_group("model").add_mutually_exclusive_group()
    model.add_argument("--arch", metavar="STRING", help="an architecture string, e.g. '[conv3-16 relu]*2 pool fc10'")
    model.add_argument("--preset", default=DEFAULTS.architecture,
                       help="a named architecture (see `volnet summary`): tiny, fashion, cifar10, "
                            "resnet-small; default %(default)s")
    optimization = parser.add_argument_group("optimization")
    optimization.add_argument("--optimizer", default=DEFAULTS.optimizer, choices=OPTIMIZER_NAMES,
                              help="update rule; momentum and nesterov are SGD with momentum 0.9; "
                                   "default %(default)s")
    optimization.add_argument("--lr", type=float, default=DEFAULTS.lr,
                              help="learning rate (onecycle: the peak); default %(default)s")
    optimization.add_argument("--weight-decay", type=float, default=DEFAULTS.weight_decay, metavar="LAMBDA",
                              help="L2 regularisation λ; default %(default)s")
    optimization.add_argument("--clip-norm", type=float, metavar="NORM",
                              help="clip the global gradient norm to this value")
    optimization.add_argument("--schedule", default=DEFAULTS.schedule, choices=tuple(SCHEDULES),
                              help="learning-rate schedule over the run; default %(default)s")
    optimization.add_argument("--warmup", type=int, default=DEFAULTS.warmup, metavar="STEPS",
                              help="steps of linear learning-rate warm-up; default %(default)s")
    optimization.add_argument("--epochs", type=int, default=DEFAULTS.epochs,
                              help="passes over the training split; default %(default)s")
    optimization.add_argument("--batch-size", type=int, default=DEFAULTS.batch_size,
                              help="examples per step; default %(default)s")
    optimization.add_argument("--label-smoothing", type=float, default=DEFAULTS.label_smoothing, metavar="EPSILON",
                              help="spread ε of each target over all classes; default %(default)s")
    optimization.add_argument("--patience", type=int, metavar="EPOCHS",
                              help="stop early after this many epochs without improvement")
    optimization.add_argument("--monitor", default=DEFAULTS.monitor, choices=MONITORS,
                              help="what picks the best epoch and drives early stopping; default %(default)s")
    optimization.add_argument("--seed", type=int, default=DEFAULTS.seed,
                              help="seeds the weights, dropout, the validation split, the order and the "
                                   "augmentation; default %(default)s")
    run_group = parser.add_argument_group("run")
    run_group.add_argument("--out", metavar="DIR", help="output folder (default: runs/<date-time>)")
    run_group.add_argument("--resume", metavar="DIR",
                           help="continue the run in DIR from its last checkpoint, with its saved settings "
                                "(the options above are then ignored)")
    run_group.add_argument("--metrics-out", metavar="FILE", help="also write the final metrics as JSON to FILE")
    run_group.add_argument("--sanity", action="store_true",
                           help="first check that the initial loss is ≈ ln(classes) and that the model can overfit "
                                "32 examples")
    run_group.add_argument("--quiet", action="store_true", help="no progress bar (one line per epoch remains)")
    parser.set_defaults(run=run)


def config_from_args(args) -> TrainingConfig:
    """The TrainingConfig the command-line options describe.

    Raises:
        ValueError: --preset names no preset (build_model would read it as an architecture string).
    """
    if args.arch is None:
        get_preset(args.preset)
    return TrainingConfig(
        dataset=args.dataset, data_dir=args.data_dir, architecture=args.arch or args.preset,
        optimizer=args.optimizer, lr=args.lr, weight_decay=args.weight_decay, clip_norm=args.clip_norm,
        schedule=args.schedule, warmup=args.warmup, epochs=args.epochs, batch_size=args.batch_size,
        augment=args.augment, label_smoothing=args.label_smoothing, val_fraction=args.val_fraction,
        limit=args.limit, seed=args.seed, patience=args.patience, monitor=args.monitor)


def run(args) -> int:
    from volnet.training.run import load_config, train

    if args.resume:
        config, out_dir = load_config(args.resume), args.resume
    else:
        config, out_dir = config_from_args(args), args.out or time.strftime("runs/%Y%m%d-%H%M%S")
    started = time.perf_counter()
    try:
        result = train(config, out_dir, resume=bool(args.resume), sanity=args.sanity, download=args.download,
                       metrics_out=args.metrics_out, progress=False if args.quiet else None)
    except KeyboardInterrupt:
        if (Path(out_dir) / LAST_CHECKPOINT).is_file():
            print(f"the last completed epoch is saved; continue with: volnet train --resume {out_dir}",
                  file=sys.stderr)
        raise
    minutes, seconds = divmod(time.perf_counter() - started, 60)
    if result.test is not None:
        print(f"test accuracy {result.test.accuracy:.2%} on {len(result.test.predictions)} test images "
              f"({int(minutes)} min {seconds:.0f} s in all)")
    else:
        print(f"validation accuracy {result.validation.accuracy:.2%} (the dataset has no test split)"
              if result.validation is not None else "trained (no validation or test split to measure)")
    print("wrote " + ", ".join(f"{role} {path}" for role, path in result.files.items()))
    return 0
