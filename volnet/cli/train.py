"""`volnet train`: train a ConvNet on a dataset and save it (see volnet.training.run)."""

from __future__ import annotations

import argparse
import dataclasses
import math
import re
import sys
import time
from pathlib import Path

from volnet.cli._shared import (ABOVE_0, AT_LEAST_0, AT_LEAST_1, FRACTION, MODEL_FILE, check_data_flags, check_flags,
                                flag, image_folder, refuse_ignored, writable_file, writable_folder)
from volnet.cli.main import describe
from volnet.models import get_preset
from volnet.optim import SCHEDULES
from volnet.training.run import OPTIMIZER_NAMES, TrainingConfig
from volnet.training.trainer import LAST_CHECKPOINT, MONITORS

DEFAULTS = TrainingConfig()
# what the numeric options must be, checked before anything is loaded
FLAG_RULES = dict(lr=ABOVE_0, weight_decay=AT_LEAST_0, clip_norm=ABOVE_0, warmup=AT_LEAST_0, epochs=AT_LEAST_1,
                  batch_size=AT_LEAST_1, label_smoothing=FRACTION, val_fraction=FRACTION, patience=AT_LEAST_1,
                  seed=AT_LEAST_0, limit=("at least 2", lambda value: value >= 2))
# the settings a run keeps from start to end; --resume continues with the ones it was started with
# (--tta changes only the evaluation after the last epoch, so a resumed run may add it)
RUN_SETTINGS = [field.name for field in dataclasses.fields(TrainingConfig) if field.name not in ("data_dir", "tta")]


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
                              help="what picks the best epoch and drives early stopping (with --val-fraction 0: "
                                   "its training counterpart); default %(default)s")
    optimization.add_argument("--tta", action="store_true",
                              help="test-time augmentation for the final evaluation: average each image's "
                                   "prediction with its mirror image's (suits --augment flip; may be added when resuming)")
    optimization.add_argument("--seed", type=int, default=DEFAULTS.seed,
                              help="seeds the weights, dropout, the validation split, the order and the "
                                   "augmentation; default %(default)s")
    run_group = parser.add_argument_group("run")
    run_group.add_argument("--out", metavar="DIR", help="output folder (default: runs/<date-time>)")
    run_group.add_argument("--resume", metavar="DIR",
                           help="continue the run in DIR from its last checkpoint, with the settings it was "
                                "started with (options that would change them are refused; --data-dir, --download, "
                                "--metrics-out, --quiet and --tta apply)")
    run_group.add_argument("--overwrite", action="store_true",
                           help="let --out replace the run already in that folder (refused otherwise)")
    run_group.add_argument("--metrics-out", metavar="FILE", help="also write the final metrics as JSON to FILE")
    run_group.add_argument("--sanity", action="store_true",
                           help="first check that the initial loss is ≈ ln(classes) and that the model can overfit "
                                "32 examples")
    run_group.add_argument("--quiet", action="store_true", help="no progress bar (one line per epoch remains)")
    run_group.add_argument("--distributed", action=argparse.BooleanOptionalAction, default=None,
                           help="data-parallel training over the ranks of an MPI job (needs volnet[mpi]); "
                                "default: on when started by mpiexec with more than one rank "
                                "(mpiexec -n 4 volnet train ...), which gives the result of one process")
    parser.set_defaults(run=run)


def config_from_args(args) -> TrainingConfig:
    """The TrainingConfig the command-line options describe.

    Raises:
        ValueError: --preset names no preset (build_model would read it as an architecture string).
    """
    return TrainingConfig(
        dataset=args.dataset, data_dir=args.data_dir,
        architecture=args.arch or preset_architecture(args.preset, args.dataset),
        optimizer=args.optimizer, lr=args.lr, weight_decay=args.weight_decay, clip_norm=args.clip_norm,
        schedule=args.schedule, warmup=args.warmup, epochs=args.epochs, batch_size=args.batch_size,
        augment=args.augment, label_smoothing=args.label_smoothing, val_fraction=args.val_fraction,
        limit=args.limit, seed=args.seed, patience=args.patience, monitor=args.monitor, tta=args.tta)


def preset_architecture(name: str, dataset: str) -> str:
    """The preset's name, or, for an image folder with another number of classes than the preset's,
    its architecture string with a last layer for those classes (the named datasets have 10, as the
    presets do; the layers adapt to the images' depth and size by themselves)."""
    from volnet.data.folder import class_folders

    preset, folder = get_preset(name), image_folder(dataset, "train")
    classes = preset.classes if folder is None else len(class_folders(folder))
    return preset.name if classes == preset.classes else preset.architecture_for(classes)


def resumed_config(args) -> TrainingConfig:
    """The configuration of the run in --resume DIR, with --data-dir if given (it says only where the files are).

    Raises:
        ValueError: options that would change the run's settings, --out elsewhere, or --sanity.
    """
    from volnet.training.run import load_config

    if args.out is not None and Path(args.out).resolve() != Path(args.resume).resolve():
        raise ValueError(f"--resume {args.resume} continues the run in its own folder; leave out --out {args.out}")
    if args.sanity:
        raise ValueError("--sanity checks a fresh model before training; it has no effect with --resume, leave it out")
    saved, asked = load_config(args.resume), config_from_args(args)
    changed = [name for name in RUN_SETTINGS
               if getattr(asked, name) != getattr(DEFAULTS, name) and getattr(asked, name) != getattr(saved, name)]
    if changed:
        flags = ", ".join(saved_setting(saved, name) for name in changed)
        raise ValueError(f"--resume {args.resume} continues the run with the settings it was started with ({flags}); "
                         f"they cannot change mid-run: leave out {', '.join(setting_flag(args, n) for n in changed)}, "
                         "or start a new run with --out")
    return dataclasses.replace(saved, data_dir=args.data_dir or saved.data_dir, tta=args.tta or saved.tta)


def setting_flag(args, name: str) -> str:
    """The option that sets TrainingConfig field `name` in these arguments."""
    return ("--arch" if args.arch else "--preset") if name == "architecture" else flag(name)


def saved_setting(config: TrainingConfig, name: str) -> str:
    """A setting of a saved configuration as the option that gives it, e.g. "--lr 0.002" or "--arch 'fc10'"."""
    from volnet.models import PRESETS

    value = getattr(config, name)
    if name == "architecture":
        return f"--preset {value}" if value in PRESETS else f"--arch '{value}'"
    return f"{flag(name)} {value}"


def run(args) -> int:
    from volnet.distributed import connect

    world = connect(args.distributed)
    with world.together(lambda error, where: f"volnet train: error: {where}: {describe(error)}"):
        return train_command(args, world, print if world.is_root else _silent)


def _silent(*words, **options) -> None:
    """print for the ranks other than 0 of a distributed run: they say nothing."""


def train_command(args, world, say) -> int:
    """`volnet train` on this rank of the world; `say` prints (on rank 0 only)."""
    from volnet.training.run import train

    check_flags(args, **FLAG_RULES)
    if args.arch is not None and not args.arch.strip():
        raise ValueError("--arch is empty; give an architecture string such as '[conv3-16 relu]*2 pool fc10', "
                         "or leave --arch out for the preset")
    if args.resume:
        refuse_ignored(args, "with --resume: the run goes on in its own folder", "overwrite")
        config, out_dir = resumed_config(args), args.resume
    else:
        config, out_dir = config_from_args(args), args.out or time.strftime("runs/%Y%m%d-%H%M%S")
        writable_folder(out_dir, "out")
        earlier = [name for name in (MODEL_FILE, LAST_CHECKPOINT) if (Path(out_dir) / name).is_file()]
        if earlier and not args.overwrite:
            state = "a finished run" if MODEL_FILE in earlier else "an unfinished run"
            raise ValueError(f"--out {out_dir} already holds {state} ({' and '.join(earlier)}); give another folder, "
                             f"continue it with --resume {out_dir}, or add --overwrite to replace it")
    check_data_flags(args, config.dataset)
    if args.metrics_out:
        writable_file(args.metrics_out, "metrics_out")
    if args.arch is None and not args.resume and config.architecture != get_preset(args.preset).name:
        say(f"the {get_preset(args.preset).name} preset, resized for the classes of {config.dataset}: "
            f"{config.architecture}")
    started = time.perf_counter()
    try:
        result = train(config, out_dir, resume=bool(args.resume), sanity=args.sanity, download=args.download,
                       metrics_out=args.metrics_out, progress=False if args.quiet else None, world=world)
    except KeyboardInterrupt:
        if (Path(out_dir) / LAST_CHECKPOINT).is_file():
            say(f"the last completed epoch is saved; continue with: volnet train --resume {out_dir}",
                file=sys.stderr)
        else:
            say(f"interrupted before the first epoch ended: nothing was saved in {out_dir}, so there is nothing to "
                f"resume; run the same command again to start over", file=sys.stderr)
        raise
    except ValueError as error:
        raise ValueError(in_flags(str(error))) from None
    minutes, seconds = divmod(time.perf_counter() - started, 60)
    ranks = f" on {world.size} ranks" if world.size > 1 else ""
    if result.test is not None:
        say(f"test accuracy {result.test.accuracy:.2%} on {len(result.test.predictions)} test images"
            f"{' (each averaged with its mirror image)' if config.tta else ''} "
            f"({int(minutes)} min {seconds:.0f} s in all{ranks})")
    else:
        say(f"validation accuracy {result.validation.accuracy:.2%} (the dataset has no test split)"
            if result.validation is not None else "trained (no validation or test split to measure)")
    say("wrote " + ", ".join(f"{role} {path}" for role, path in result.files.items()))
    return 0


# The library's messages about settings that fit or not only once the training split is loaded
# (its size sets the number of steps), in its parameter names, and how the command line says them.
STEPS = "(--epochs × batches of --batch-size)"
LIBRARY_MESSAGES = (
    (re.compile(r"split fraction (?P<fraction>\S+) of (?P<examples>\d+) examples holds out (?P<held>\d+); "
                r"choose a fraction between (?P<low>\S+) and (?P<high>\S+) "),
     lambda m: f"--val-fraction {m['fraction']} holds out {m['held']} of the {m['examples']} training examples for "
               f"validation; choose a value between {m['low']} and {m['high']}, or 0 for no validation split"),
    (re.compile(r"warmup_steps must be ≥ 0 and fewer than total_steps, got warmup_steps=(?P<warmup>\d+), "
                r"total_steps=(?P<steps>\d+)"),
     lambda m: f"--warmup {m['warmup']} is not fewer than the {m['steps']} steps of the whole run {STEPS}; "
               "choose fewer warm-up steps"),
    (re.compile(r"a onecycle schedule needs .* got pct_start=(?P<rising>\S+), total_steps=(?P<steps>\d+)"),
     lambda m: f"--schedule onecycle rises over the first {float(m['rising']):.0%} of the steps, so it needs more than "
               f"{math.floor(1 / float(m['rising']))} steps after the warm-up, and this run has {m['steps']} {STEPS}; "
               "train longer or choose another --schedule"),
)


def in_flags(message: str) -> str:
    """A library message from LIBRARY_MESSAGES said with the command line's flags; any other unchanged."""
    for pattern, words in LIBRARY_MESSAGES:
        match = pattern.search(message)
        if match:
            return words(match)
    return message
