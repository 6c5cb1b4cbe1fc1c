"""The lab's state: a model training in a thread through volnet's Trainer, watched and steered.

A Lab owns the data, the model, its Trainer and the training thread, and publishes what the
page shows through a Broker (volnet.lab.wire):

    "stats"        a curve point at most every STATS_INTERVAL s: the mean loss and accuracy of
                   the steps since the last point, examples/s, epoch, step, lr; now and then a
                   validation loss and accuracy on the next VAL_CHUNK validation images
    "layers"       the layer cards for the input being looked at (volnet.lab.probe)
    "predictions"  test images with their top-3 classes, the accuracy on the last RECENT of them
                   and their confusion matrix
    "state"        the settings, paused or running, the input looked at, an error

The trainer calls the Lab back after every step (Trainer callbacks, in the training thread).
The thread holds `lock` while a step runs; every request from the page that reads or changes
the model waits its turn in `between_steps()`, which the thread gives it in on_step, so it runs
between two steps and a change applies from the next one. Pausing blocks inside on_step.

The page's work is kept within PAGE_SHARE of the training time: a look inside the model
(layer cards, a validation chunk, test predictions) is taken only while the time spent on
looks is under that share of the time trained, and only while a tab is open.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import math
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
from PIL import Image

from volnet.data import channel_stats, load_dataset, scaled_batch
from volnet.data.sources import SOURCES, present
from volnet.explain.cam import grad_cam, stretched
from volnet.explain.probe import conv_layer
from volnet.explain.saliency import saliency_map
from volnet.lab import probe
from volnet.lab.wire import Broker, picture
from volnet.layers import Conv2D, MaxPool2D
from volnet.models.numbering import layer_name
from volnet.models.serialize import save_model
from volnet.training.metrics import softmax
from volnet.training.run import (OPTIMIZER_NAMES, SGD_VARIANTS, TrainingConfig, build_optimizer, build_run,
                                 load_trained_model)
from volnet.training.trainer import Trainer
from volnet.viz.diagram import describe

STATS_INTERVAL = 0.25  # seconds between curve points
PAGE_SHARE = 0.1  # the most of the training time the page's looks may take
LOOK_INTERVAL = 1.0  # seconds between looks at least
DEAD_BATCH = 32  # images of the batch a look runs (row 0 is the input looked at)
VAL_CHUNK = 100  # validation images per validation point
FEED = 4  # test images predicted per look
RECENT = 200  # test predictions the running accuracy and the confusion matrix count
MAX_POINTS = 2000  # curve points kept for a tab that opens later; then every other one is dropped
MAX_IMAGE_PIXELS = 2048 * 2048  # an uploaded image larger than this is refused before it is decoded
SGD_FAMILY = ("sgd", *SGD_VARIANTS)


@dataclasses.dataclass
class Settings:
    """What a lab starts with (the `volnet lab` flags)."""

    dataset: str = "sample"
    architecture: str = "tiny"
    data_dir: str | None = None
    optimizer: str = "adam"
    lr: float = 1e-3
    momentum: float | None = None
    weight_decay: float = 0.0
    batch_size: int = 32
    val_fraction: float = 0.1
    seed: int = 0


class Data:
    """A dataset's training, validation and test splits (the test split is the validation one
    for an image folder without test/), and the normalisation of the training split."""

    def __init__(self, name: str, data_dir=None, val_fraction: float = 0.1, seed: int = 0, normalize=None):
        whole = load_dataset(name, "train", data_dir)
        self.train, self.val = whole.split(val_fraction, np.random.default_rng(seed))
        folder = Path(name).expanduser()
        has_test = name in SOURCES or name == "sample" or (folder / "test").is_dir()
        self.test = load_dataset(name, "test", data_dir) if has_test else self.val
        self.name, self.normalize = name, normalize or channel_stats(self.train)

    def batch(self, images: np.ndarray) -> np.ndarray:
        """uint8 images (B, D, H, W) as the model sees them: scaled to [0, 1] and normalised."""
        return scaled_batch(images, self.normalize)


def parse_value(name: str, text, kind):
    """A control's value from the page, with argparse's message for a value that is not a number."""
    try:
        value = kind(text)
    except (TypeError, ValueError):
        raise ValueError(f"argument --{name.replace('_', '-')}: invalid {kind.__name__} value: {text!r}") from None
    if kind is float and not math.isfinite(value):
        raise ValueError(f"argument --{name.replace('_', '-')}: invalid float value: {text!r}")
    return value


class Lab:
    """A model training live (module doc). Call start() to begin training, close() to end it.

    Args:
        settings: the starting Settings.
        broker: where the updates go; a new one by default.
        model_file: a model.npz to load and look at (paused) instead of a fresh model.
        paused: start paused.
    """

    def __init__(self, settings: Settings | None = None, broker: Broker | None = None, model_file=None,
                 paused: bool = False):
        self.settings = dataclasses.replace(settings or Settings())
        self.broker = broker or Broker()
        self.lock = threading.Lock()
        self.wake = threading.Condition()
        self.paused, self.steps_allowed, self.closed = paused, 0, False
        self.visitors = 0  # requests waiting for the model (between_steps)
        self.error: str | None = None
        self.points: list[dict] = []
        self.last: dict[str, dict] = {}  # the latest big message of each kind, for tabs that open later
        self.rng = np.random.default_rng(self.settings.seed)
        self.thread = threading.Thread(target=self._train, name="volnet-lab-training", daemon=True)
        if model_file is not None:
            self.load_model(model_file)
        else:
            self._use(Data(self.settings.dataset, self.settings.data_dir, self.settings.val_fraction,
                           self.settings.seed), self.settings.architecture)

    # -- the model and its trainer -----------------------------------------------------------
    def _use(self, data: Data, architecture: str, model=None, class_names=None) -> None:
        """Train `model` (or a fresh one built from `architecture`) on `data` from now on.

        Raises:
            ValueError: the architecture does not fit the data (volnet's message).
        """
        config = TrainingConfig(dataset=data.name, architecture=architecture, optimizer=self.settings.optimizer,
                                lr=self.settings.lr, weight_decay=self.settings.weight_decay,
                                batch_size=self.settings.batch_size, seed=self.settings.seed)
        if model is None:
            model, _, _ = build_run(config, data.train)
        elif model.input_shape != data.train.image_shape:
            raise ValueError(f"the model takes {'×'.join(map(str, model.input_shape))} inputs (D×H×W) but "
                             f"{data.name} has {'×'.join(map(str, data.train.image_shape))} images; pick a dataset "
                             "of its images")
        optimizer = self._optimizer(model, self.settings.optimizer, self.settings.momentum)
        old = getattr(self, "trainer", None)
        self.trainer = Trainer(model, optimizer, batch_size=self.settings.batch_size, normalize=data.normalize,
                               seed=self.settings.seed, progress=False, log=self._log, callbacks=[self])
        if old is not None:
            old.request_stop()
        self.data, self.model, self.settings.architecture = data, model, architecture
        self.class_names = list(class_names or data.train.class_names)
        self.subject = {"image": data.test.images[0], "label": int(data.test.labels[0]), "title": "test image 0"}
        self.points, self.recent = [], collections.deque(maxlen=RECENT)
        self.before, self.val_position = None, 0
        self.page_seconds, self.trained_seconds = 0.0, 0.0
        self._window = self._fresh_window()
        self.error = None
        self._look_now()

    def _optimizer(self, model, name: str, momentum: float | None):
        if momentum is not None and name not in SGD_FAMILY:
            raise ValueError(f"--momentum applies to the optimizers {', '.join(SGD_FAMILY)}, not {name}; "
                             "choose one of them first")
        options = {} if momentum is None else {"momentum": momentum}
        return build_optimizer(name, model, self.settings.lr, self.settings.weight_decay, **options)

    def start(self) -> "Lab":
        self.thread.start()
        return self

    def close(self) -> None:
        """Stop training and end the thread (within a step)."""
        self.closed = True
        self.trainer.request_stop()
        with self.wake:
            self.wake.notify_all()
        if self.thread.is_alive():
            self.thread.join(timeout=30)

    def _train(self) -> None:
        while not self.closed:
            self._wait_while_paused()
            with self.lock:
                if self.closed:
                    break
                trainer = self.trainer
                trainer.stop_requested = False
                try:
                    trainer.fit(self.data.train, self.data.val, epochs=trainer.epoch + 10 ** 6)
                except (ValueError, TypeError, OSError) as error:  # e.g. DivergenceError, naming the step and layer
                    with self.wake:
                        self.error, self.paused = str(error), True
                    self._publish_state()

    @contextlib.contextmanager
    def between_steps(self):
        """Hold the model between two training steps (the step in progress finishes first): what
        every request that reads or changes the model runs in. The training thread lets each
        waiting request in before its next step (see _hold)."""
        with self.wake:
            self.visitors += 1
        try:
            with self.lock:
                yield
        finally:
            with self.wake:
                self.visitors -= 1
                self.wake.notify_all()

    def _hold(self) -> bool:
        """In the training thread, lock held, after a step: let the waiting requests in, and stay
        while paused (one step granted lets it go once). Returns whether it waited for a pause."""
        held = False
        while True:
            with self.wake:
                if self.closed or (not self.visitors and not self.paused):
                    return held
                if not self.visitors and self.steps_allowed:
                    self.steps_allowed -= 1
                    return held
                held = held or self.paused
            self.lock.release()
            try:
                with self.wake:
                    while not self.closed and (self.visitors or (self.paused and not self.steps_allowed)):
                        self.wake.wait()
            finally:
                self.lock.acquire()

    def _wait_while_paused(self) -> None:
        with self.wake:
            while self.paused and not self.steps_allowed and not self.closed:
                self.wake.wait()
            if self.steps_allowed:
                self.steps_allowed -= 1

    def _log(self, line: str) -> None:
        """The trainer's epoch lines count epochs out of the lab's endless run; on_epoch prints its own."""

    # -- the trainer's callbacks (training thread, lock held) ---------------------------------
    def on_step(self, trainer, step: dict) -> None:
        if trainer is not self.trainer:
            return
        window = self._window
        window["steps"] += 1
        window["loss"] += step["loss"]
        window["accuracy"] += step["accuracy"]
        window["examples"] += step["examples"]
        now = time.perf_counter()
        if now - window["started"] >= STATS_INTERVAL or self.paused:
            self._publish_point(step, now)
        if self.before is not None:
            self._look(now)
        elif (self.broker.listening and now - self.looked >= LOOK_INTERVAL
              and self.page_seconds <= PAGE_SHARE * self.trained_seconds):
            # the weights before the next step, so that the next look sees that step's update
            self.before = {name: p.data.copy() for name, p in self.model.parameters().items()}
        if self._hold():
            self._window = self._fresh_window()  # the pause is not training time

    def on_epoch(self, trainer, record: dict) -> None:
        if trainer is self.trainer:
            print(f"epoch {record['epoch']}: train loss {record['train_loss']:.3f} acc {record['train_accuracy']:.1%}, "
                  f"val loss {record['val_loss']:.3f} acc {record['val_accuracy']:.1%}, "
                  f"{record['examples_per_second']:.0f} examples/s", flush=True)
            self._add_point({"step": trainer.step, "epoch": record["epoch"], "val_loss": record["val_loss"],
                             "val_accuracy": record["val_accuracy"], "epoch_end": True})

    @staticmethod
    def _fresh_window() -> dict:
        return {"steps": 0, "loss": 0.0, "accuracy": 0.0, "examples": 0, "started": time.perf_counter(),
                "page": 0.0}

    def _publish_point(self, step: dict, now: float) -> None:
        window = self._window
        seconds = now - window["started"]
        self.trained_seconds += seconds - window["page"]
        self._add_point({"step": step["step"], "epoch": step["epoch"], "lr": step["lr"],
                         "loss": window["loss"] / window["steps"], "accuracy": window["accuracy"] / window["steps"],
                         "examples_per_second": window["examples"] / seconds if seconds > 0 else None})
        self._window = self._fresh_window()

    def _add_point(self, point: dict) -> None:
        self.points.append(point)
        if len(self.points) > MAX_POINTS:
            self.points = self.points[::2]
        self.broker.publish("stats", {"point": point, "paused": self.paused})

    # -- looks inside the model ---------------------------------------------------------------
    def _look(self, started: float) -> None:
        """The training step just taken, its update and a look at the model (module doc)."""
        steps = {name: {"weight": self.before[name], "update": p.data - self.before[name], "grad": p.grad.copy()}
                 for name, p in self.model.parameters().items()}
        self.before = None
        self._look_now(steps)
        self._validate()
        self._predict()
        spent = time.perf_counter() - started
        self.page_seconds += spent
        self._window["page"] += spent

    def _look_now(self, steps: dict | None = None) -> None:
        """Publish the layer cards for the input looked at; without the step's numbers (steps
        None: before training, or when the input changes) the cards show the weights now."""
        if steps is None:
            steps = {name: {"weight": p.data, "update": np.zeros_like(p.data), "grad": p.grad}
                     for name, p in self.model.parameters().items()}
        seen = self._seen()
        cards = probe.layer_cards(self.model, seen, steps)
        if not any(step["update"].any() for step in steps.values()):
            for card in cards:
                card.pop("update_ratio", None)
                card["flags"] = [flag for flag in card["flags"] if not flag.startswith("update/weight")]
        probabilities = softmax(seen.scores[:1])[0]
        self._publish("layers", {"cards": cards, "input": picture(self.subject["image"].astype(np.float64)),
                                 "title": self.subject["title"], "label": self.subject["label"],
                                 "top": self._top(probabilities), "step": self.trainer.step})
        self.looked = time.perf_counter()

    def _seen(self) -> probe.Look:
        others = self.data.val.images[:DEAD_BATCH - 1]
        images = np.concatenate([self.subject["image"][None], others])
        label = self.subject["label"]
        if label is None:
            label = int(np.argmax(self._predict_images(images[:1])[0]))
        return probe.look(self.model, self.data.batch(images), label)

    def _top(self, probabilities: np.ndarray, k: int = 3) -> list[list]:
        return [[int(c), float(probabilities[c])] for c in np.argsort(probabilities)[::-1][:k]]

    def _predict_images(self, images: np.ndarray) -> np.ndarray:
        was_training = self.model.training
        try:
            return softmax(self.model.eval().forward(self.data.batch(images)))
        finally:
            self.model.train(was_training)

    def _validate(self) -> None:
        val = self.data.val
        positions = (self.val_position + np.arange(min(VAL_CHUNK, len(val)))) % len(val)
        self.val_position = int(positions[-1] + 1) % len(val)
        probabilities = self._predict_images(val.images[positions])
        labels = val.labels[positions]
        loss = float(-np.mean(np.log(np.maximum(probabilities[np.arange(len(labels)), labels], 1e-12))))
        self._add_point({"step": self.trainer.step, "val_loss": loss,
                         "val_accuracy": float(np.mean(probabilities.argmax(axis=1) == labels))})

    def _predict(self) -> None:
        test = self.data.test
        chosen = self.rng.choice(len(test), size=min(FEED, len(test)), replace=False)
        probabilities = self._predict_images(test.images[chosen])
        items = []
        for index, row in zip(chosen, probabilities):
            label = int(test.labels[index])
            self.recent.append((label, int(row.argmax())))
            items.append({"index": int(index), "image": picture(test.images[index].astype(np.float64)),
                          "label": label, "top": self._top(row)})
        classes = len(self.class_names)
        confusion = np.zeros((classes, classes), np.int64)
        for label, predicted in self.recent:
            confusion[label, predicted] += 1
        self._publish("predictions", {"items": items, "confusion": confusion.tolist(), "counted": len(self.recent),
                                      "accuracy": float(np.trace(confusion) / max(1, len(self.recent))),
                                      "step": self.trainer.step})

    def _publish(self, kind: str, payload: dict) -> None:
        self.last[kind] = payload
        self.broker.publish(kind, payload)

    # -- what a tab is told ------------------------------------------------------------------
    def state(self) -> dict:
        optimizer = self.trainer.optimizer
        return {"dataset": self.data.name, "architecture": self.settings.architecture,
                "optimizer": self.settings.optimizer, "lr": float(optimizer.lr),
                "momentum": getattr(optimizer, "momentum", None), "weight_decay": float(optimizer.weight_decay),
                "batch_size": self.trainer.batch_size, "step": self.trainer.step, "epoch": self.trainer.epoch + 1,
                "paused": self.paused, "error": self.error, "classes": self.class_names,
                "image_shape": list(self.data.train.image_shape), "train_examples": len(self.data.train),
                "optimizers": list(OPTIMIZER_NAMES), "datasets": self.datasets(),
                "subject": self.subject["title"]}

    def datasets(self) -> list[str]:
        """The datasets the picker offers: those found on this machine, and the one in use."""
        found = [name for name in ("sample", *SOURCES) if present(name, self.settings.data_dir)]
        return found + ([self.data.name] if self.data.name not in found else [])

    def _publish_state(self) -> None:
        self._publish("state", self.state())

    def hello(self) -> list[dict]:
        """What a tab that has just opened is sent: the state, the curve so far, the latest cards and feed."""
        with self.between_steps():
            messages = [{"kind": "state", **self.state()}, {"kind": "history", "points": list(self.points)}]
            messages += [{"kind": kind, **self.last[kind]} for kind in ("layers", "predictions") if kind in self.last]
        return messages

    # -- controls (any thread) ---------------------------------------------------------------
    def control(self, values: dict) -> dict:
        """Apply the page's controls; returns the new state.

        values: {"action": "pause" | "resume" | "step"} and/or any of "lr", "momentum",
            "weight_decay", "batch_size", "optimizer" (strings or numbers), applied from the next step.

        Raises:
            ValueError: an unknown control or action, or a value that breaks its rule (a
                SettingError, as `volnet train` checks that setting).
        """
        from volnet.errors import FRACTION, check_settings
        from volnet.training.run import SETTING_RULES

        known = {"action", "lr", "momentum", "weight_decay", "batch_size", "optimizer"}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown control {unknown[0]!r}; the controls are {', '.join(sorted(known))}")
        action = values.get("action")
        if action not in (None, "pause", "resume", "step"):
            raise ValueError(f"unknown action {action!r}; use pause, resume or step")
        numbers = {name: parse_value(name, values[name], int if name == "batch_size" else float)
                   for name in ("lr", "momentum", "weight_decay", "batch_size") if values.get(name) not in (None, "")}
        check_settings(dataclasses.make_dataclass("Controls", list(numbers))(**numbers),
                       **{name: SETTING_RULES.get(name, FRACTION) for name in numbers})
        optimizer = values.get("optimizer") or None
        if optimizer is not None and optimizer not in OPTIMIZER_NAMES:
            raise ValueError(f"argument --optimizer: invalid choice: {optimizer!r} (choose from "
                             f"{', '.join(map(repr, OPTIMIZER_NAMES))})")
        with self.between_steps():
            self._apply(numbers, optimizer)
            if action is not None:
                with self.wake:
                    self.paused = action != "resume"
                    self.steps_allowed = 1 if action == "step" else 0
            self._publish_state()  # with the step count at which the change applies
            return self.state()

    def _apply(self, numbers: dict, optimizer_name: str | None) -> None:
        """Change the trainer's settings; nothing changes when one of them is refused."""
        trainer, settings = self.trainer, self.settings
        new_rule = optimizer_name not in (None, settings.optimizer)
        name = optimizer_name or settings.optimizer
        momentum = numbers.get("momentum", None if new_rule else settings.momentum)
        if new_rule or ("momentum" in numbers and name not in SGD_FAMILY):
            optimizer = self._optimizer(self.model, name, momentum)  # fresh state; refuses momentum without SGD
        elif "momentum" in numbers:
            if getattr(trainer.optimizer, "nesterov", False) and momentum <= 0:
                raise ValueError(f"--momentum must be greater than 0 with nesterov, got {momentum}")
            optimizer = trainer.optimizer  # the same rule keeps its velocity
            optimizer.momentum = momentum
        else:
            optimizer = trainer.optimizer
        trainer.optimizer = optimizer
        settings.optimizer, settings.momentum = name, momentum
        settings.lr = numbers.get("lr", settings.lr)
        settings.weight_decay = numbers.get("weight_decay", settings.weight_decay)
        optimizer.lr, optimizer.weight_decay = settings.lr, settings.weight_decay
        if "batch_size" in numbers and numbers["batch_size"] != trainer.batch_size:
            # batches are drawn an epoch at a time: the epoch in progress starts again with the new size
            trainer.batch_size = settings.batch_size = numbers["batch_size"]
            trainer.request_stop()

    def restart(self, architecture: str | None = None, dataset: str | None = None) -> dict:
        """Start again with fresh weights: another architecture string or preset, and/or another dataset.

        Raises:
            ValueError, OSError: volnet's message for a string that does not parse or fit, or a
                dataset that cannot be found.
        """
        architecture = (architecture or self.settings.architecture).strip()
        if not architecture:
            raise ValueError("the architecture is empty; write layers such as 'conv3-16 relu pool fc10' or a preset")
        data = self.data if dataset in (None, self.data.name) else Data(dataset, self.settings.data_dir,
                                                                        self.settings.val_fraction, self.settings.seed)
        with self.between_steps():
            self._use(data, architecture)
        self._publish_state()
        return self.state()

    def look_at(self, index: int | None = None, image_bytes: bytes | None = None) -> dict:
        """Look at test image `index`, or at an uploaded image file; returns its top-3 classes.

        Raises:
            ValueError: an index outside the test split, or a file that is not an image (the
                image loader's message), or one of more than MAX_IMAGE_PIXELS pixels.
        """
        if image_bytes is not None:
            subject = {"image": self._decode(image_bytes), "label": None, "title": "your image"}
        else:
            test = self.data.test
            index = parse_value("index", index, int)
            if not 0 <= index < len(test):
                raise ValueError(f"{test.name} has test images 0 to {len(test) - 1}; there is no image {index}")
            subject = {"image": test.images[index], "label": int(test.labels[index]), "title": f"test image {index}"}
        with self.between_steps():
            self.subject = subject
            self._look_now()
            top = self.last["layers"]["top"]
        self._publish_state()
        return {"top": [[self.class_names[k], p] for k, p in top], "title": subject["title"]}

    def _decode(self, data: bytes) -> np.ndarray:
        from volnet.viz.images import load_image

        depth, height, width = self.data.train.image_shape
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "upload"
            path.write_bytes(data)
            try:
                with Image.open(path) as image:  # reads the header only
                    size = image.size
            except Image.DecompressionBombError as error:
                raise ValueError(f"the uploaded image is refused: {error}") from None
            except (OSError, ValueError):
                size = (0, 0)  # load_image gives the message
            if size[0] * size[1] > MAX_IMAGE_PIXELS:
                raise ValueError(f"the uploaded image is {size[0]}×{size[1]} pixels; the lab takes images of at most "
                                 f"{MAX_IMAGE_PIXELS:,} pixels (it shrinks them to {width}×{height} anyway)")
            try:
                return load_image(path, depth, width, height)
            except ValueError as error:  # the loader names its file: here, a temporary one
                raise ValueError(str(error).replace(str(path), "the uploaded image")) from None

    def probe(self, request: dict) -> dict:
        """A drill-down: {"kind": "neuron", "layer": 1-based, "d", "row", "col"} for a conv or max-pooling
        output number, or {"kind": "saliency" or "grad-cam", "class": c} for the input looked at.

        Raises:
            ValueError: an unknown kind, a layer that has no drill-down, positions outside it.
        """
        kind = request.get("kind")
        with self.between_steps():
            if kind in ("saliency", "grad-cam"):
                return self._class_map(kind, request.get("class"))
            if kind != "neuron":
                raise ValueError(f"unknown drill-down {kind!r}; use neuron, saliency or grad-cam")
            number, layers = parse_value("layer", request.get("layer"), int), self.model.layers
            if not 1 <= number <= len(layers):
                raise ValueError(f"the model has layers 1 to {len(layers)}; got layer {number}")
            layer = layers[number - 1]
            if not isinstance(layer, (Conv2D, MaxPool2D)):
                raise ValueError(f"layer {number} ({type(layer).__name__}) has no drill-down; click a map of a "
                                 "Conv2D or MaxPool2D layer")
            d, row, col = (parse_value(name, request.get(name), int) for name in ("d", "row", "col"))
            seen = self._seen()
            explain = probe.conv_neuron if isinstance(layer, Conv2D) else probe.pool_neuron
            found = explain(layer, seen.layer_input(number - 1), d, row, col)
            return {"kind": type(layer).__name__, "layer": number, "d": d, "row": row, "col": col,
                    "output": float(seen.outputs[number - 1][0, d, row, col]), **found}

    def _class_map(self, kind: str, chosen) -> dict:
        """The saliency map |∂ score_c / ∂ x| (H, W) or the Grad-CAM map at the last conv layer
        (h, w), and that stretched to (H, W), of class c for the input looked at (volnet.explain)."""
        c = parse_value("class", chosen, int)
        if not 0 <= c < len(self.class_names):
            raise ValueError(f"there are classes 0 to {len(self.class_names) - 1}; got class {c}")
        x = self.data.batch(self.subject["image"][None])[0]
        answer = {"kind": kind, "class": c, "name": self.class_names[c]}
        if kind == "saliency":
            return {**answer, "map": picture(saliency_map(self.model, x, c))}
        layer = conv_layer(self.model)
        coarse = grad_cam(self.model, x, c, layer)
        return {**answer, "layer": layer_name(layer), "description": describe(layer), "coarse": picture(coarse),
                "map": picture(stretched(coarse, x.shape))}

    # -- files ------------------------------------------------------------------------------
    def snapshot(self) -> bytes:
        """The model now as a model.npz (volnet.models.save_model: the safe format), as bytes."""
        with self.between_steps(), tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "model.npz"
            save_model(path, self.model, {"normalization": self.data.normalize.to_dict(),
                                          "architecture": self.settings.architecture, "dataset": self.data.name,
                                          "step": self.trainer.step}, class_names=self.class_names)
            return path.read_bytes()

    def load_model(self, path) -> dict:
        """Look at a saved model (volnet's safe loader), paused; its dataset (saved with it) when
        that is found, else the one in use, must have images of its input shape.

        Raises:
            ValueError, OSError: not a model file, a corrupt one, or images of another shape.
        """
        model, normalization, class_names, metadata = load_trained_model(path)
        wanted = metadata.get("dataset") or self.settings.dataset
        current = getattr(self, "data", None)
        if current is not None and current.name == wanted:
            data = current
        else:
            try:
                data = Data(wanted, self.settings.data_dir, self.settings.val_fraction, self.settings.seed,
                            normalize=normalization)
            except (OSError, ValueError):
                if current is None:
                    raise
                data = current
        data.normalize = normalization or data.normalize
        with self.wake:
            self.paused = True
        architecture = metadata.get("architecture") or str(path)
        if current is None:
            self._use(data, architecture, model, class_names)
        else:
            with self.between_steps():
                self._use(data, architecture, model, class_names)
            self._publish_state()
        return self.state()

    def load_model_bytes(self, content: bytes) -> dict:
        """load_model of a model file's bytes (an upload)."""
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "model.npz"
            path.write_bytes(content)
            return self.load_model(path)
