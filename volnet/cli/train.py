"""`volnet train`: train a ConvNet on a dataset and save it (see volnet.training.run)."""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

from volnet.cli._shared import check_data_flags, refuse_ignored, writable_file, writable_folder
from volnet.errors import describe, flag
from volnet.models import PRESETS, get_preset
from volnet.optim import SCHEDULES
from volnet.run_folder import LAST_CHECKPOINT, MODEL_FILE
from volnet.training.metrics import describe_tta, tta_views
from volnet.training.recipes import RECIPES, get_recipe
from volnet.training.run import OPTIMIZER_NAMES, TrainingConfig, preset_architecture, resume_config
from volnet.training.trainer import MONITORS

DEFAULTS = TrainingConfig()
# the settings that have a flag of their name: a flag left out is None, and the recipe's (or the default) value applies
FLAGGED = tuple(field.name for field in dataclasses.fields(TrainingConfig) if field.name != "architecture")


def _default(setting: str) -> str:
    """The end of a flag's help: the value a run gets without the flag."""
    return f"default {getattr(DEFAULTS, setting)}, or the recipe's"


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
    data.add_argument("--dataset",
                      help="sample (embedded, offline), fashion-mnist, mnist, cifar10, or an image folder "
                           "(one sub-folder per class); " + _default("dataset"))
    data.add_argument("--data-dir", metavar="DIR", help="look for the dataset files here first")
    data.add_argument("--download", action="store_true", help="download missing dataset files (checked by MD5)")
    data.add_argument("--augment", metavar="LIST",
                      help="comma-separated: crop (random shift by up to H/8 pixels), crop:N, flip; "
                           "e.g. crop,flip; default none, or the recipe's")
    data.add_argument("--val-fraction", type=float, metavar="FRACTION",
                      help="share of the training split held out for validation (0: none); " + _default("val_fraction"))
    data.add_argument("--limit", type=int, metavar="N",
                      help="train on N random training examples only (quick trials)")
    model = parser.add_argument_group("model").add_mutually_exclusive_group()
    model.add_argument("--arch", metavar="STRING", help="an architecture string, e.g. '[conv3-16 relu]*2 pool fc10'")
    model.add_argument("--preset",
                       help="a named architecture (see `volnet summary`): tiny, fashion, cifar10, "
                            "resnet-small; " + _default("architecture"))
    optimization = parser.add_argument_group("optimization")
    optimization.add_argument("--optimizer", choices=OPTIMIZER_NAMES,
                              help="update rule; momentum and nesterov are SGD with momentum 0.9; "
                                   + _default("optimizer"))
    optimization.add_argument("--lr", type=float,
                              help="learning rate (onecycle: the peak); " + _default("lr"))
    optimization.add_argument("--weight-decay", type=float, metavar="LAMBDA",
                              help="L2 regularisation λ; " + _default("weight_decay"))
    optimization.add_argument("--clip-norm", type=float, metavar="NORM",
                              help="clip the global gradient norm to this value")
    optimization.add_argument("--schedule", choices=tuple(SCHEDULES),
                              help="learning-rate schedule over the run; " + _default("schedule"))
    optimization.add_argument("--warmup", type=int, metavar="STEPS",
                              help="steps of linear learning-rate warm-up; " + _default("warmup"))
    optimization.add_argument("--epochs", type=int,
                              help="passes over the training split; " + _default("epochs"))
    optimization.add_argument("--batch-size", type=int,
                              help="examples per step; " + _default("batch_size"))
    optimization.add_argument("--label-smoothing", type=float, metavar="EPSILON",
                              help="spread ε of each target over all classes; " + _default("label_smoothing"))
    optimization.add_argument("--patience", type=int, metavar="EPOCHS",
                              help="stop early after this many epochs without improvement")
    optimization.add_argument("--monitor", choices=MONITORS,
                              help="what picks the best epoch and drives early stopping (with --val-fraction 0: "
                                   "its training counterpart); " + _default("monitor"))
    optimization.add_argument("--tta", nargs="?", const=True, metavar="VIEWS",
                              help="test-time augmentation for the final evaluation: average each image's "
                                   "prediction over views of it: flip (the image and its mirror, as bare --tta; "
                                   "suits --augment flip), shift (and its shifts by one pixel: suits crop), "
                                   "flip,shift (10 views); may be added when resuming")
    optimization.add_argument("--ema", type=float, metavar="DECAY",
                              help="keep an exponential moving average of the weights with this decay, e.g. 0.999 "
                                   "(warmed up as min(DECAY, (1 + step)/(10 + step))): it is validated, evaluated "
                                   "at the end and saved; default none, or the recipe's")
    optimization.add_argument("--seed", type=int,
                              help="seeds the weights, dropout, the validation split, the order and the "
                                   "augmentation; " + _default("seed"))
    run_group = parser.add_argument_group("run")
    run_group.add_argument("--recipe", metavar="NAME",
                           help="a named run that sets the dataset, the architecture and every training setting ("
                                + ", ".join(RECIPES) + "); flags given beside it replace its values; "
                                "--recipe list shows the recipes")
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


def config_from_args(args, base: TrainingConfig = DEFAULTS) -> TrainingConfig:
    """The TrainingConfig the command-line options describe: `base` (the defaults, or a recipe's
    configuration) with the settings given as flags in place of its values (given_settings), and a
    preset resized for the classes of an image folder (preset_architecture).

    Raises:
        ValueError: --preset names no preset (build_model would read it as an architecture string).
    """
    config = dataclasses.replace(base, **given_settings(args, base))
    if args.arch is None and config.architecture in PRESETS:
        config.architecture = preset_architecture(config.architecture, config.dataset)
    return config


def given_settings(args, base: TrainingConfig = DEFAULTS) -> dict:
    """The settings given as flags, by name in TrainingConfig's order; "architecture" for --arch, or
    for --preset (resized for the classes of an image folder: preset_architecture)."""
    given = {name: getattr(args, name) for name in FLAGGED if getattr(args, name) is not None}
    if args.arch is not None:
        given["architecture"] = args.arch
    elif args.preset is not None:
        given["architecture"] = preset_architecture(args.preset, given.get("dataset", base.dataset))
    return {field.name: given[field.name] for field in dataclasses.fields(TrainingConfig) if field.name in given}


def resumed_config(args, asked: dict) -> TrainingConfig:
    """The configuration of the run in --resume DIR (volnet.training.run.resume_config), given the
    settings given as flags (given_settings): those that would change the run's settings are refused.

    Raises:
        ValueError: --out elsewhere, or options that would change the run's settings.
    """
    if args.out is not None and Path(args.out).resolve() != Path(args.resume).resolve():
        raise ValueError(f"--resume {args.resume} continues the run in its own folder; leave out --out {args.out}")
    return resume_config(args.resume, **asked)


def run(args) -> int:
    from volnet.distributed import connect

    world = connect(args.distributed)
    with world.together(lambda error, where: f"volnet train: error: {where}: {describe(error, flag)}"):
        return train_command(args, world, print if world.is_root else _silent)


def _silent(*words, **options) -> None:
    """print for the ranks other than 0 of a distributed run: they say nothing."""


def train_command(args, world, say) -> int:
    """`volnet train` on this rank of the world; `say` prints (on rank 0 only)."""
    from volnet.training.run import train

    if args.arch is not None and not args.arch.strip():
        raise ValueError("--arch is empty; give an architecture string such as '[conv3-16 relu]*2 pool fc10', "
                         "or leave --arch out for the preset")
    if args.recipe is not None and args.recipe.strip().lower() == "list":
        for recipe in RECIPES.values():
            say(recipe.line())
        return 0
    recipe = None if args.recipe is None else get_recipe(args.recipe)
    base = DEFAULTS if recipe is None else recipe.config
    given = given_settings(args, base)
    config = config_from_args(args, base)
    config.check()
    if args.resume:
        refuse_ignored(args, "with --resume: the run goes on in its own folder", "overwrite")
        refuse_ignored(args, "with --resume: the run goes on with the settings it was started with", "recipe")
        config, out_dir = resumed_config(args, given), args.resume
    else:
        out_dir = args.out or time.strftime("runs/%Y%m%d-%H%M%S")
        writable_folder(out_dir, "out")
        earlier = [name for name in (MODEL_FILE, LAST_CHECKPOINT) if (Path(out_dir) / name).is_file()]
        if earlier and not args.overwrite:
            state = "a finished run" if MODEL_FILE in earlier else "an unfinished run"
            raise ValueError(f"--out {out_dir} already holds {state} ({' and '.join(earlier)}); give another folder, "
                             f"continue it with --resume {out_dir}, or add --overwrite to replace it")
    check_data_flags(args, config.dataset)
    if args.metrics_out:
        writable_file(args.metrics_out, "metrics_out")
    if recipe is not None:
        replaced = [f"{'--preset' if name == 'architecture' and args.preset else flag(name)} {value} (the recipe's "
                    f"{'none' if getattr(base, name) is None else getattr(base, name)})"
                    for name, value in given.items() if not _same_setting(name, value, getattr(base, name))]
        say(f"recipe {recipe.name}: {recipe.description}" + (f"; given instead: {', '.join(replaced)}" if replaced else ""))
    preset = args.preset or (base.architecture if args.arch is None and base.architecture in PRESETS else None)
    if preset is not None and not args.resume and config.architecture != get_preset(preset).name:
        say(f"the {get_preset(preset).name} preset, resized for the classes of {config.dataset}: "
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
    minutes, seconds = divmod(time.perf_counter() - started, 60)
    ranks = f" on {world.size} ranks" if world.size > 1 else ""
    if result.test is not None:
        say(f"test accuracy {result.test.accuracy:.2%} on {len(result.test.predictions)} test images"
            f"{f' ({describe_tta(config.tta)})' if len(tta_views(config.tta)) > 1 else ''}"
            f"{' with the averaged weights (EMA)' if config.ema else ''} "
            f"({int(minutes)} min {seconds:.0f} s in all{ranks})")
    else:
        say(f"validation accuracy {result.validation.accuracy:.2%} (the dataset has no test split)"
            if result.validation is not None else "trained (no validation or test split to measure)")
    say("wrote " + ", ".join(f"{role} {path}" for role, path in result.files.items()))
    return 0


def _same_setting(name: str, value, recipe_value) -> bool:
    """Whether a flag given beside a recipe asks for what the recipe does already (a bare --tta is
    the recipe's "flip": the same two views)."""
    if name == "tta":
        from volnet.training.metrics import tta_views

        return tta_views(value) == tta_views(recipe_value)
    return value == recipe_value
