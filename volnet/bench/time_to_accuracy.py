"""`python -m volnet.bench.time_to_accuracy`: a recipe's wall time to its test accuracy, in volnet or PyTorch.

    python -m volnet.bench.time_to_accuracy --recipe fashion-3min --framework torch --seed 0 --json torch-0.json

Both frameworks run one recipe (volnet.training.recipes) on this machine, timed by the same
code (Stopwatch): from before the data is loaded to the final test accuracy. What they share:

    data           volnet.training.run.load_splits and channel_stats: the same splits and normalisation
    weights        volnet's model built with the recipe's seed; PyTorch's net is its twin
                   (volnet.bench.mirror.to_torch), so both start from the same weights
    batches        volnet.data.iterate_batches with a generator seeded as the Trainer's and the
                   recipe's augmentation: the same images, augmented alike, in the same order
    optimizer      volnet's Adam/AdamW is torch.optim.Adam/AdamW: ε outside the square root, both
                   bias corrections, weight decay as L2 in the gradient (Adam) or decoupled (AdamW);
                   betas, ε and λ are read from volnet's optimizer
    learning rate  volnet's schedule, called for every step
    loss           cross-entropy with the recipe's label smoothing ε: target (1 − ε)·onehot + ε/C in both
    averaging      the recipe's EMA: volnet.training.averaging's formula and warm-up, over every float
                   tensor of the state_dict (parameters and batch norm's running statistics)
    evaluation     the recipe's test-time views (volnet.training.metrics.view_batches, average_views)
    threads        PyTorch gets as many as NumPy's BLAS uses (volnet.ops.parallel.blas_threads)

What differs: dropout draws its masks from each framework's own generator. With --each-epoch the
test accuracy after every epoch is measured too, outside the clock. `--framework volnet` runs
volnet.training.train itself (in a temporary folder), so its time includes writing the run's
files (model, checkpoints, curves), as `volnet train` does.

The settings mirrored are those of the recipes: an Adam or AdamW run without a validation
split, gradient clipping or early stopping; other settings are refused by name.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import dataclasses
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from volnet.bench.mirror import to_torch
from volnet.data import DATASETS, channel_stats, iterate_batches, load_dataset
from volnet.errors import SettingError
from volnet.ops.parallel import blas_threads
from volnet.training.averaging import ema_decay
from volnet.training.metrics import accuracy, average_views, view_batches
from volnet.training.recipes import RECIPES, get_recipe
from volnet.training.run import TrainingConfig, build_run, load_splits, parse_augment, train

FRAMEWORKS = ("volnet", "torch")
TORCH_OPTIMIZERS = {"adam": "Adam", "adamw": "AdamW"}


class Stopwatch:
    """Wall time since it was made, less the time spent inside `paused()` blocks."""

    def __init__(self):
        self.started, self.excluded = time.perf_counter(), 0.0

    def seconds(self) -> float:
        return time.perf_counter() - self.started - self.excluded

    @contextlib.contextmanager
    def paused(self):
        pause = time.perf_counter()
        try:
            yield
        finally:
            self.excluded += time.perf_counter() - pause


def check_mirrored(config: TrainingConfig) -> None:
    """Raise SettingError for a setting the PyTorch run does not mirror (module doc)."""
    if config.optimizer not in TORCH_OPTIMIZERS:
        raise SettingError("the PyTorch run mirrors {optimizer} adam and adamw, not {name}", name=config.optimizer)
    for name in ("clip_norm", "patience"):
        if getattr(config, name) is not None:
            raise SettingError(f"the PyTorch run does not mirror {{{name}}}; leave it out")
    if config.val_fraction:
        raise SettingError("the PyTorch run does not validate; use {val_fraction} 0")


class TorchRun:
    """A volnet run's twin in PyTorch: the same weights, optimizer, schedule, loss and EMA (module doc).

    Args:
        model: the volnet model as built for the run (its weights are copied).
        optimizer: volnet's optimizer for it (its betas, ε and weight decay are used).
        schedule: volnet's learning-rate schedule, step -> lr.
        config: the run's settings (label smoothing, ema).
        torch: the torch module, set to its thread count.
    """

    def __init__(self, model, optimizer, schedule, config: TrainingConfig, torch):
        self.torch, self.schedule, self.config = torch, schedule, config
        self.net = to_torch(model).train()
        kind = getattr(torch.optim, TORCH_OPTIMIZERS[config.optimizer])
        self.optimizer = kind(self.net.parameters(), lr=optimizer.lr, betas=optimizer.betas, eps=optimizer.eps,
                              weight_decay=optimizer.weight_decay)
        self.step = 0
        self.average = None if not config.ema else {
            name: tensor.detach().clone() for name, tensor in self.net.state_dict().items()
            if tensor.is_floating_point()}

    def train_step(self, x: np.ndarray, labels: np.ndarray) -> float:
        """One step on a batch x (B, D, H, W) float32, labels (B,); returns the batch's mean loss."""
        torch = self.torch
        for group in self.optimizer.param_groups:
            group["lr"] = self.schedule(self.step)
        self.optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(self.net(torch.from_numpy(x)), torch.from_numpy(labels),
                                                 label_smoothing=self.config.label_smoothing)
        loss.backward()
        self.optimizer.step()
        if self.average is not None:
            keep = ema_decay(self.config.ema, self.step)
            with torch.no_grad():
                state = self.net.state_dict()
                for name, average in self.average.items():
                    average += (1 - keep) * (state[name] - average)
        self.step += 1
        return float(loss.detach())

    def averaged_net(self):
        """The net holding the averaged weights (the net itself without an EMA)."""
        if self.average is None:
            return self.net
        averaged = copy.deepcopy(self.net)
        averaged.load_state_dict({**self.net.state_dict(), **self.average})
        return averaged

    def probabilities(self, dataset, normalize, tta) -> np.ndarray:
        """(N, C) test-time-augmented probabilities of the (averaged) net, in inference mode."""
        torch, net = self.torch, self.averaged_net().eval()

        def scores_of(view):
            with torch.no_grad():
                return np.concatenate([net(torch.from_numpy(np.ascontiguousarray(x))).numpy()
                                       for x in view_batches(dataset, view, normalize=normalize)])

        try:
            return average_views(scores_of, tta)
        finally:
            self.net.train()


def run_torch(config: TrainingConfig, each_epoch: bool = False, log=print) -> dict:
    """Train `config` in PyTorch (module doc); returns the timings (time_to_accuracy's dict)."""
    from volnet.bench import import_torch

    check_mirrored(config)
    torch = import_torch(blas_threads())
    if torch is None:
        raise ValueError("PyTorch is not installed; the torch run needs it (pip install torch)")
    clock = Stopwatch()
    train_set, _, test_set = load_splits(config)
    normalize = channel_stats(train_set)
    model, optimizer, schedule = build_run(config, train_set)
    twin = TorchRun(model, optimizer, schedule, config, torch)
    epochs = []
    for epoch, batches in enumerate(epoch_batches(config, train_set, normalize), start=1):
        for x, labels in batches:
            twin.train_step(x, labels)
        epochs.append(_epoch(epoch, clock, each_epoch, lambda: _accuracy(twin, test_set, normalize, config.tta), log,
                             config.epochs))
    final = _accuracy(twin, test_set, normalize, config.tta)
    return _result("torch", config, clock.seconds(), final, epochs, torch.get_num_threads())


def epoch_batches(config: TrainingConfig, train_set, normalize):
    """Each epoch's batches (x, labels) as volnet's Trainer draws them: one generator seeded with the
    run's seed for the order and the augmentation, the recipe's augmentation, the normalisation."""
    rng = np.random.default_rng(config.seed)
    augment = parse_augment(config.augment, train_set.image_shape[1])
    for _ in range(config.epochs):
        yield iterate_batches(train_set, config.batch_size, shuffle=True, rng=rng, augment=augment,
                              normalize=normalize)


def _accuracy(twin: TorchRun, test_set, normalize, tta) -> float:
    return accuracy(twin.probabilities(test_set, normalize, tta).argmax(axis=1), test_set.labels)


def run_volnet(config: TrainingConfig, each_epoch: bool = False, log=print) -> dict:
    """Train `config` with volnet.training.train (module doc); returns the timings."""
    clock = Stopwatch()
    epochs, tests = [], []

    class Timer:
        def on_epoch(self, trainer, record):
            def measured():
                if not tests:
                    tests.append(load_dataset(config.dataset, "test", config.data_dir))
                return trainer.measure(tests[0], tta=config.tta).accuracy

            epochs.append(_epoch(record["epoch"], clock, each_epoch, measured, log, config.epochs))

    with tempfile.TemporaryDirectory(prefix="volnet-time-to-accuracy-") as out_dir:
        result = train(config, out_dir, progress=False, log=lambda line: None, callbacks=[Timer()])
        seconds = clock.seconds()
    return _result("volnet", config, seconds, result.test.accuracy, epochs, blas_threads())


def _epoch(epoch: int, clock: Stopwatch, each_epoch: bool, measure, log, epochs: int) -> dict:
    """The record of an epoch just finished: its time from the start, and (outside the clock) the test accuracy."""
    seconds, test_accuracy = clock.seconds(), None
    if each_epoch:
        with clock.paused():
            test_accuracy = measure()
    log(f"epoch {epoch}/{epochs}  {seconds:.1f} s from the start" +
        ("" if test_accuracy is None else f"  test accuracy {test_accuracy:.2%} (not timed)"))
    return {"epoch": epoch, "seconds": seconds, "test_accuracy": test_accuracy}


def _result(framework, config, seconds, test_accuracy, epochs, threads) -> dict:
    return {"framework": framework, "seconds": seconds, "test_accuracy": test_accuracy, "epochs": epochs,
            "threads": threads, "config": dataclasses.asdict(config)}


RUNS = {"volnet": run_volnet, "torch": run_torch}


def time_to_accuracy(recipe: str, framework: str, seed: int = 0, each_epoch: bool = False, log=print,
                     **settings) -> dict:
    """Train recipe `recipe` (with `settings` in place of its values, e.g. limit=512, epochs=1) with
    `framework` ("volnet" or "torch") and time it (module doc).

    Returns:
        {"framework", "recipe", "seed", "seconds" (start to final test accuracy), "test_accuracy",
         "epochs": [{"epoch", "seconds" (from the start), "test_accuracy" (None unless each_epoch)}],
         "threads", "config"}.

    Raises:
        SettingError: an unknown recipe or framework, or a setting the PyTorch run does not mirror.
    """
    if framework not in RUNS:
        raise SettingError("unknown {framework} {name!r}; choose one of {names}", name=framework,
                           names=", ".join(FRAMEWORKS))
    found = get_recipe(recipe)
    config = found.with_settings(seed=seed, **{name: value for name, value in settings.items() if value is not None})
    config.check()
    folder = Path(config.dataset).expanduser()
    if config.dataset not in DATASETS and not (folder / "test").is_dir():
        raise SettingError("{dataset} {name!r} has no test split (a test/ sub-folder), so there is no test accuracy "
                           "to time; give a dataset with one", name=config.dataset)
    return {"recipe": found.name, "seed": seed, **RUNS[framework](config, each_epoch, log)}


def main(argv=None) -> int:
    """The command (module doc); a user error is one line and exit status 2."""
    from volnet.errors import describe, flag

    parser = argparse.ArgumentParser(
        prog="python -m volnet.bench.time_to_accuracy",
        description="Train a named recipe in volnet or in PyTorch (the same net, weights, batches, optimizer, "
                    "schedule, averaging and test-time views) and print the wall time from the start to its test "
                    "accuracy.")
    parser.add_argument("--recipe", required=True, help=f"the recipe: {', '.join(RECIPES)}")
    parser.add_argument("--framework", default="volnet", help="volnet or torch; default %(default)s")
    parser.add_argument("--seed", type=int, default=0, help="the run's seed; default %(default)s")
    parser.add_argument("--each-epoch", action="store_true",
                        help="also measure the test accuracy after every epoch (outside the clock)")
    parser.add_argument("--json", metavar="FILE", help="also write the result as JSON to FILE")
    trial = parser.add_argument_group("short trials (in place of the recipe's values)")
    trial.add_argument("--epochs", type=int)
    trial.add_argument("--limit", type=int, metavar="N", help="train on N random training examples")
    trial.add_argument("--dataset", help="another dataset, e.g. sample")
    trial.add_argument("--data-dir", metavar="DIR", help="look for the dataset files here first")
    args = parser.parse_args(argv)
    try:
        if args.json and (Path(args.json).is_dir() or not Path(args.json).expanduser().parent.is_dir()):
            raise SettingError("{json} {path} cannot be written: it is a folder, or the folder it would be in does "
                               "not exist", path=args.json)
        result = time_to_accuracy(args.recipe, args.framework, args.seed, args.each_epoch,
                                  log=lambda line: print(line, file=sys.stderr), epochs=args.epochs,
                                  limit=args.limit, dataset=args.dataset, data_dir=args.data_dir)
        print(f"{result['framework']} {result['recipe']} seed {result['seed']}: test accuracy "
              f"{result['test_accuracy']:.2%} {result['seconds']:.1f} s from the start ({result['threads']} threads)")
        if args.json:
            with open(args.json, "w") as file:
                json.dump(result, file, indent=1)
    except (ValueError, TypeError, OSError) as error:
        print(f"{parser.prog}: error: {describe(error, flag)}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
