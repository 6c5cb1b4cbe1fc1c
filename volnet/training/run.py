"""A whole training run, from a dataset name to a saved model: what `volnet train` does.

    load the training split; hold out a validation split; measure the per-channel mean/std
    build the model; check it fits the images and the classes; make optimizer and schedule
    (optionally) the sanity checks; train with checkpoints (and weight averages, with an EMA)
    evaluate on the test split (with the averaged weights, with an EMA; in the views of tta)
    save model.npz (weights + everything eval/predict need), history.json, metrics.json,
    curves.png into the output folder

A TrainingConfig describes the run in JSON-friendly values and is stored in every
checkpoint, so `train(config, out_dir, resume=True)` — or `volnet train --resume DIR` —
rebuilds the same run and continues it exactly where it stopped.

Spread over the ranks of an MPI job (`world`, see volnet.distributed), every rank loads the
data and builds the model alike (the same seed gives the same weights), trains its share of
each batch and evaluates its share of each split; rank 0 alone runs the sanity checks, logs
and writes the files. A checkpoint holds nothing that depends on the number of ranks, so a
run may be resumed with another.
"""

from __future__ import annotations

import dataclasses
import inspect
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from volnet.data import DATASETS, Augmentation, Dataset, Normalization, channel_stats, load_dataset
from volnet.data.folder import class_folders
from volnet.data.sources import image_folder_split
from volnet.distributed.world import World
from volnet.errors import ABOVE_0, AT_LEAST_0, AT_LEAST_1, FRACTION, SettingError, check_settings
from volnet.files import write_atomically
from volnet.layers import SoftmaxCrossEntropy
from volnet.models import PRESETS, build_model, get_preset
from volnet.models.budget import check_model_memory
from volnet.models.serialize import load_model, save_model
from volnet.optim import OPTIMIZERS, SCHEDULES, make_optimizer, make_schedule
from volnet.run_folder import BEST_CHECKPOINT, LAST_CHECKPOINT, MODEL_FILE, model_file
from volnet.training.checkpoint import damaged_checkpoint, load_checkpoint
from volnet.training.metrics import Evaluation, evaluate, tta_views
from volnet.training.sanity import SanityReport, sanity_check
from volnet.training.trainer import Trainer

# names for SGD with momentum, as the notes use them
SGD_VARIANTS = {"momentum": {"momentum": 0.9}, "nesterov": {"momentum": 0.9, "nesterov": True}}
OPTIMIZER_NAMES = (*OPTIMIZERS, *SGD_VARIANTS)
# what each numeric setting of a run must be (volnet.errors.check_settings; None passes)
SETTING_RULES = dict(lr=ABOVE_0, weight_decay=AT_LEAST_0, clip_norm=ABOVE_0, warmup=AT_LEAST_0, epochs=AT_LEAST_1,
                     batch_size=AT_LEAST_1, label_smoothing=FRACTION, val_fraction=FRACTION, patience=AT_LEAST_1,
                     seed=AT_LEAST_0, limit=("at least 2", lambda value: value >= 2), ema=FRACTION)
# the settings a resumed run may change: where the dataset files are, and the evaluation after the last epoch
RESUME_MAY_CHANGE = ("data_dir", "tta")


@dataclass
class TrainingConfig:
    """Everything that defines a run. The defaults train the "tiny" preset on the embedded
    Fashion-MNIST sample to > 85% test accuracy in about a minute on two CPU cores.

    Attributes:
        dataset: "sample", "fashion-mnist", "mnist", "cifar10" or an image folder (volnet.data.load_dataset).
        data_dir: a folder to look for the dataset files in first.
        architecture: a preset name ("tiny") or an architecture string ("[conv3-16 relu]*2 pool fc10").
        optimizer: one of OPTIMIZER_NAMES; "momentum" and "nesterov" are SGD with momentum 0.9.
        lr: the base learning rate (the peak for onecycle).
        weight_decay: L2 regularisation λ (decoupled for adamw).
        clip_norm: clip the global gradient norm to this, or None.
        schedule: "constant", "step", "cosine" or "onecycle" (volnet.optim.make_schedule).
        warmup: steps of linear learning-rate warm-up before the schedule.
        epochs: passes over the training split.
        batch_size: examples per step.
        augment: comma-separated: "crop" (random translation by up to H/8 pixels; "crop:N"
            for N pixels) and "flip" (random horizontal mirror); "" for none.
        label_smoothing: ε of the cross-entropy.
        val_fraction: the share of the training split held out for validation (0: none).
        limit: train on this many randomly chosen training examples (before the validation
            split), for quick trials; None for all.
        seed: seeds the weights, dropout, the validation split, the order and the augmentation.
        patience: stop after this many epochs without improvement of `monitor`; None never stops early.
        monitor: "val_loss" or "val_accuracy".
        tta: evaluate the finished model with test-time augmentation: each image's probabilities
            averaged over views of it (volnet.training.metrics.tta_views): True or "flip" (the
            image and its mirror), "shift" (and its one-pixel shifts), "flip,shift"; False: none.
        ema: the decay of an exponential moving average of the weights (and of batch norm's
            running statistics), e.g. 0.999, warmed up as min(ema, (1 + t)/(10 + t))
            (volnet.training.averaging); the averaged weights are validated, evaluated at the end
            and saved in model.npz. None or 0: no average (a configuration saved before ema
            existed has none).
    """

    dataset: str = "sample"
    data_dir: str | None = None
    architecture: str = "tiny"
    optimizer: str = "adam"
    lr: float = 2e-3
    weight_decay: float = 0.0
    clip_norm: float | None = None
    schedule: str = "cosine"
    warmup: int = 0
    epochs: int = 5
    batch_size: int = 64
    augment: str = ""
    label_smoothing: float = 0.0
    val_fraction: float = 0.1
    limit: int | None = None
    seed: int = 0
    patience: int | None = None
    monitor: str = "val_loss"
    tta: bool | str = False
    ema: float | None = None

    def check(self) -> None:
        """Raise SettingError (a ValueError) naming the setting, for values that cannot work
        whatever the data (SETTING_RULES, the optimizer's name, the words of augment and tta)."""
        if self.optimizer not in OPTIMIZER_NAMES:
            raise SettingError("unknown {optimizer} {name!r}; choose one of {names}", name=self.optimizer,
                               names=", ".join(OPTIMIZER_NAMES))
        check_settings(self, **SETTING_RULES)
        parse_augment(self.augment, None)  # the words now; crop:N against the image size once loaded
        tta_views(self.tta)

    def check_for(self, examples: int) -> None:
        """Raise SettingError for the settings that fit or not only once the size of the training
        split is known (`examples`, before `limit` takes its share): a validation split that leaves
        either part empty, a warm-up not shorter than the run, a onecycle schedule with too few
        steps to rise. (Dataset.split and make_schedule refuse the same values; this says it in
        the run's settings, before anything is built.)"""
        examples = min(examples, self.limit or examples)
        held_out = round(self.val_fraction * examples)
        if self.val_fraction and not 0 < held_out < examples:
            raise SettingError("{val_fraction} {fraction!r} holds out {held_out} of the {examples} training examples "
                               "for validation; choose a value between {low:.3g} and {high:.3g}, or 0 for no "
                               "validation split", fraction=self.val_fraction, held_out=held_out, examples=examples,
                               low=1 / examples, high=1 - 1 / examples)
        steps = self.epochs * math.ceil((examples - held_out) / self.batch_size)
        if self.warmup >= steps:
            raise SettingError("{warmup} {warmup_steps} is not fewer than the {steps} steps of the whole run "
                               "({epochs} × batches of {batch_size}); choose fewer warm-up steps",
                               warmup_steps=self.warmup, steps=steps)
        rising = inspect.signature(SCHEDULES["onecycle"]).parameters["pct_start"].default  # the share going up
        if str(self.schedule).lower() == "onecycle" and rising * (steps - self.warmup) <= 1:
            raise SettingError("{schedule} onecycle rises over the first {rising:.0%} of the steps, so it needs more "
                               "than {needed} steps after the warm-up, and this run has {after} ({epochs} × batches "
                               "of {batch_size}); train longer or choose another {schedule}", rising=rising,
                               needed=math.floor(1 / rising), after=steps - self.warmup)


def preset_architecture(name: str, dataset: str) -> str:
    """The architecture for preset `name` on `dataset`: the preset's name, or, for an image folder
    with another number of classes than the preset's, its architecture string with a last layer
    for those classes (the named datasets have 10, as the presets do; the layers adapt to the
    images' depth and size by themselves).

    Raises:
        ValueError: no preset of that name (with the nearest one).

    Example: preset_architecture("tiny", "pictures/") -> "... fc64 relu fc3" for three class sub-folders.
    """
    preset, root = get_preset(name), Path(dataset).expanduser()
    folder = None if dataset in DATASETS or not root.is_dir() else image_folder_split(root, "train")
    classes = preset.classes if folder is None else len(class_folders(folder))
    return preset.name if classes == preset.classes else preset.architecture_for(classes)


def parse_augment(text: str, image_size: int | None) -> Augmentation | None:
    """An Augmentation from "crop", "crop:N", "flip" joined by commas ("" gives None).

    Args:
        text: e.g. "crop,flip" or "crop:2".
        image_size: the images' height, which sets the default crop padding (H/8: 3 for
            28×28, 4 for 32×32) and bounds crop:N; None checks the words only.

    Raises:
        ValueError: an unknown word, or a crop of 0 pixels or of the whole image or more.
    """
    padding, flip = 0, False
    for word in filter(None, (part.strip().lower() for part in text.split(","))):
        name, _, pixels = word.partition(":")
        if name == "flip" and not pixels:
            flip = True
        elif name == "crop" and (not pixels or pixels.isdigit()):
            padding = int(pixels) if pixels else max(1, image_size // 8) if image_size else 1
            if padding < 1:
                raise ValueError(f"augmentation {word!r} shifts the images by 0 pixels: use crop:N with N ≥ 1 "
                                 f"(or leave crop out)")
            if image_size is not None and padding >= image_size:
                raise ValueError(f"augmentation {word!r} would shift {image_size}×{image_size} images by up to "
                                 f"{padding} pixels, out of view: use crop:N with N < {image_size}")
        else:
            raise ValueError(f"unknown augmentation {word!r}: use 'crop' (random translation by up to H/8 pixels), "
                             "'crop:N' (up to N pixels) and 'flip' (random horizontal mirror), joined by commas, "
                             "e.g. crop,flip")
    return Augmentation(padding=padding, flip=flip) if padding or flip else None


@dataclass
class TrainingResult:
    """What a run produced.

    Attributes:
        model: the trained model (in inference mode).
        history: one dict per epoch (see volnet.training.trainer).
        test: the evaluation on the test split, or None when the dataset has none.
        validation: the final evaluation on the validation split, or None.
        sanity: the sanity report, when asked for.
        files: what was written, by role: "model", "history", "metrics", "checkpoint", "best" (the
            checkpoint of the best epoch), "curves" (and "metrics_out").
    """

    model: object
    history: list[dict]
    test: Evaluation | None
    validation: Evaluation | None
    sanity: SanityReport | None = None
    files: dict[str, Path] = field(default_factory=dict)


def load_config(out_dir) -> TrainingConfig:
    """The configuration stored in the last checkpoint of the run in out_dir.

    Raises:
        FileNotFoundError: out_dir holds no checkpoint.
        ValueError: a corrupt checkpoint, or one without a training configuration.
    """
    path = Path(out_dir) / LAST_CHECKPOINT
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist: there is no run to resume in {out_dir} "
                                "(give the --out folder of an earlier `volnet train`)")
    settings = load_checkpoint(path).settings
    if "config" not in settings:
        raise ValueError(f"{path} holds no training configuration; it was not written by `volnet train`")
    known = {field.name for field in dataclasses.fields(TrainingConfig)}
    config = settings["config"]
    unknown = sorted(set(config) - known) if isinstance(config, dict) else None
    if unknown is None or unknown:
        raise damaged_checkpoint(path, f"its training configuration has settings this volnet does not know: "
                                       f"{', '.join(map(str, unknown))}" if unknown else
                                 "its training configuration is not a dict")
    try:
        config = TrainingConfig(**config)
        config.check()
    except (TypeError, ValueError) as error:
        raise damaged_checkpoint(path, f"its training configuration: {error}") from None
    return config


def resume_config(out_dir, **asked) -> TrainingConfig:
    """The configuration that continues the run in out_dir: the one it was started with
    (load_config), with the settings in RESUME_MAY_CHANGE (data_dir, tta) as asked. Any other
    setting asked must equal the run's: a run cannot change mid-way.

    Example: train(resume_config("runs/a", tta=True), "runs/a", resume=True).

    Raises:
        FileNotFoundError, ValueError: as load_config.
        SettingError: asked settings that differ from the run's; the message names each, with
            the value the run was started with. An architecture that is a preset's name is
            named as the setting "preset".
    """
    saved = load_config(out_dir)
    unknown = sorted(set(asked) - {field.name for field in dataclasses.fields(TrainingConfig)})
    if unknown:
        raise TypeError(f"resume_config got settings a TrainingConfig does not have: {', '.join(unknown)}")
    changed = [name for name, value in asked.items() if name not in RESUME_MAY_CHANGE and value != getattr(saved, name)]
    if changed:
        was = ", ".join(f"{_setting_field(name, getattr(saved, name))} {{was_{name}}}" for name in changed)
        values = {f"was_{name}": _shown(name, getattr(saved, name)) for name in changed}
        given = ", ".join(_setting_field(name, asked[name]) for name in changed)
        raise SettingError(f"{{resume}} {{run}} continues the run with the settings it was started with ({was}); "
                           f"they cannot change mid-run: leave out {given}, or start a new run with {{out_dir}}",
                           run=out_dir, **values)
    return dataclasses.replace(saved, **{name: asked[name] for name in RESUME_MAY_CHANGE if name in asked})


def _setting_field(name: str, value) -> str:
    """The field that names setting `name` in a SettingError's template; an architecture that is a
    preset's name is the setting "preset" (the volnet command's --preset, not --arch)."""
    return "{preset}" if name == "architecture" and value in PRESETS else f"{{{name}}}"


def _shown(name: str, value):
    """A setting's value as a message shows it: an architecture string in quotes, a preset's name bare."""
    return f"'{value}'" if name == "architecture" and value not in PRESETS else value


def load_trained_model(path):
    """A model saved by train (or by volnet.models.save_model), from its file or its run's folder
    (volnet.run_folder.model_file), ready for evaluate and predict_proba.

    Returns:
        (model in inference mode, its Normalization or None, its class names or None, metadata).

    Raises:
        FileNotFoundError: no file at path.
        ValueError: not a model file (a checkpoint, a folder without a finished run, ...), or a
            corrupt one; the message names the file to give instead.
    """
    path = model_file(path)
    model, metadata = load_model(path)
    scores = model.output_shape(model.input_shape)
    classes = metadata["class_names"]
    if len(scores) != 1 or (classes is not None and scores[0] != len(classes)):
        wanted = f"{len(classes)} class scores, one per class name it saved" if classes else "a vector of class scores"
        raise ValueError(f"{path}: the model's output for one example has shape {scores}, not {wanted}; it is not "
                         f"a classifier that volnet can evaluate or predict with")
    normalization = metadata.get("normalization")
    return model, None if normalization is None else Normalization(**normalization), metadata["class_names"], metadata


def load_splits(config: TrainingConfig, download: bool = False) -> tuple[Dataset, Dataset | None, Dataset | None]:
    """The run's (training, validation, test) splits, as train uses them: config.limit examples of the
    training split drawn with the seed, then the validation share; None where there is none.

    Raises:
        SettingError: settings that do not fit the training split's size (TrainingConfig.check_for).
        ValueError, OSError: missing or damaged dataset files.
    """
    train_split = load_dataset(config.dataset, "train", config.data_dir, download)
    config.check_for(len(train_split))
    return (*_split(config, train_split), _test_split(config, download))


def _test_split(config: TrainingConfig, download: bool) -> Dataset | None:
    """The test split, or None for an image folder without train/ and test/ sub-folders."""
    folder = Path(config.dataset).expanduser()
    if config.dataset not in DATASETS and not (folder / "test").is_dir():
        return None
    return load_dataset(config.dataset, "test", config.data_dir, download)


def _split(config: TrainingConfig, dataset: Dataset) -> tuple[Dataset, Dataset | None]:
    rng = np.random.default_rng(config.seed)
    if config.limit is not None and config.limit < len(dataset):
        dataset = dataset.subset(np.sort(rng.permutation(len(dataset))[:config.limit]))
    if config.val_fraction == 0:
        return dataset, None
    return dataset.split(config.val_fraction, rng)


def build_optimizer(name: str, model, lr: float, weight_decay: float = 0.0, clip_norm: float | None = None,
                    **options):
    """The optimizer called `name` (one of OPTIMIZER_NAMES) over the model's parameters; options
    such as momentum=0.5 override those of the SGD variants."""
    if name in SGD_VARIANTS:
        name, options = "sgd", {**SGD_VARIANTS[name], **options}
    return make_optimizer(name, model.parameters(), lr=lr, weight_decay=weight_decay, clip_norm=clip_norm, **options)


def build_run(config: TrainingConfig, train_set: Dataset):
    """The model (built with the seed), its optimizer and its learning-rate schedule for train_set, as
    train makes them (and the lab, and volnet.bench.time_to_accuracy)."""
    model = build_model(config.architecture, input_shape=train_set.image_shape, seed=config.seed)
    check_model_memory(model, train_set.image_shape, batch_size=min(config.batch_size, len(train_set)),
                       source=f"training {config.architecture!r:.60} on {train_set.name}")
    classes = len(train_set.class_names)
    scores = model.output_shape(train_set.image_shape)
    if scores != (classes,):
        raise ValueError(f"the model {config.architecture!r} gives scores of shape {scores} but {train_set.name} has "
                         f"{classes} classes; end the architecture with fc{classes}")
    optimizer = build_optimizer(config.optimizer, model, config.lr, config.weight_decay, config.clip_norm)
    steps = config.epochs * math.ceil(len(train_set) / config.batch_size)
    schedule = make_schedule(config.schedule, config.lr, steps, warmup_steps=config.warmup)
    return model, optimizer, schedule


def _write_json(path: Path, value) -> Path:
    """Write JSON atomically (volnet.files.write_atomically)."""
    write_atomically(path, lambda file: file.write(json.dumps(value, indent=1).encode()), what=path.name)
    return path


def train(config: TrainingConfig, out_dir, resume: bool = False, sanity: bool = False, download: bool = False,
          metrics_out=None, progress: bool | None = None, log: Callable[[str], None] = print,
          world=None, callbacks=()) -> TrainingResult:
    """Run a whole training (module doc) and write its files into out_dir.

    Args:
        config: the run's settings.
        out_dir: the output folder (created if missing).
        resume: continue the run whose checkpoint.npz is in out_dir; config must be the one
            it was started with (load_config(out_dir) reads it).
        sanity: run the sanity checks before training (volnet.training.sanity) and report them;
            not with resume (they check a fresh model).
        download: fetch missing dataset files.
        metrics_out: a further path for metrics.json's content, or None.
        progress: a progress bar (None: when stderr is a terminal).
        log: called with each line to report (on rank 0 only).
        world: the volnet.distributed.World to spread the run over (module doc); None: this process alone.
        callbacks: given to the Trainer (on_step, on_epoch; volnet.training.trainer).

    Returns:
        a TrainingResult.

    Raises:
        ValueError, TypeError, OSError: bad settings, missing or corrupt files (one-line
            messages); DivergenceError (a ValueError) when training diverges.
    """
    config.check()
    if resume and sanity:
        raise SettingError("{sanity} checks a fresh model before training; it has no effect with {resume}, leave it out")
    world = world if world is not None else World()
    train_set, val_set, test_set = load_splits(config, download)
    normalize = channel_stats(train_set)
    model, optimizer, schedule = build_run(config, train_set)
    out_dir = Path(out_dir)  # created only once the run is known to start
    if world.is_root:
        out_dir.mkdir(parents=True, exist_ok=True)
    loss = SoftmaxCrossEntropy(config.label_smoothing)
    report = sanity_check(model, train_set, loss, normalize, seed=config.seed) if sanity and world.is_root else None
    for line in report.lines() if report else ():
        log(line)
    trainer = Trainer(model, optimizer, loss, schedule, batch_size=config.batch_size,
                      augment=parse_augment(config.augment, train_set.image_shape[1]), normalize=normalize,
                      seed=config.seed, monitor=config.monitor, patience=config.patience, out_dir=out_dir,
                      settings={"config": dataclasses.asdict(config)}, progress=progress, log=log, world=world,
                      callbacks=callbacks, ema=config.ema)
    if resume:
        trainer.resume(out_dir / LAST_CHECKPOINT)
        if trainer.epoch >= config.epochs or trainer.stopped_early:
            trainer.log(f"{out_dir} holds a finished run ({trainer.epoch} of {config.epochs} epochs): nothing is left to "
                f"train, so it is only evaluated and its files are written again")
        else:
            trainer.log(f"resuming {out_dir} after epoch {trainer.epoch} of {config.epochs}")
    history = trainer.fit(train_set, val_set, config.epochs)

    if trainer.average is not None:
        trainer.average.copy_to(model)
        trainer.log(f"the final evaluation and {MODEL_FILE} use the averaged weights (EMA, decay {config.ema:g})")
    model.eval()
    measure = dict(normalize=normalize, loss=loss, tta=config.tta, world=world)
    validation = None if val_set is None else evaluate(model, val_set, **measure)
    test = None if test_set is None else evaluate(model, test_set, **measure)
    metrics = {"test": None if test is None else test.to_dict(),
               "validation": None if validation is None else validation.to_dict(),
               "sanity": None if report is None else report.to_dict(),
               "epochs": len(history), "config": dataclasses.asdict(config),
               "weights": "ema" if trainer.average is not None else "last"}
    final = {"test_accuracy": None if test is None else test.accuracy,
               "val_accuracy": None if validation is None else validation.accuracy, "epochs": len(history)}
    files = {"model": out_dir / MODEL_FILE, "history": out_dir / "history.json",
             "metrics": out_dir / "metrics.json", "checkpoint": out_dir / LAST_CHECKPOINT}
    if not world.is_root:
        return TrainingResult(model, history, test, validation, report, {})
    if (out_dir / BEST_CHECKPOINT).is_file():
        files["best"] = out_dir / BEST_CHECKPOINT
    save_model(files["model"], model, {"normalization": normalize.to_dict(), "architecture": config.architecture,
                                       "dataset": config.dataset, "metrics": final,
                                       "config": dataclasses.asdict(config)}, class_names=train_set.class_names)
    _write_json(files["history"], history)
    _write_json(files["metrics"], metrics)
    if metrics_out is not None:
        files["metrics_out"] = _write_json(Path(metrics_out), metrics)
    from volnet.viz.curves import plot_training_curves  # matplotlib loads only when a run ends
    files["curves"] = plot_training_curves(history, out_dir / "curves.png")
    return TrainingResult(model, history, test, validation, report, files)
