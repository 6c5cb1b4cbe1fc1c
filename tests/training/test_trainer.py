"""The training loop: history, reproducibility, exact resume, early stopping; callbacks, told about
every step and epoch, able to change the optimizer and to stop the run."""

import numpy as np
import pytest

from volnet.training import Trainer, load_checkpoint

TIMING = ("seconds", "examples_per_second")


def without_timing(history):
    return [{key: value for key, value in record.items() if key not in TIMING} for record in history]


def assert_same_state(first, second):
    assert first.keys() == second.keys()
    for name in first:
        assert np.array_equal(first[name], second[name]), name


def test_history_has_one_record_per_epoch(make_trainer, small_split):
    trainer = make_trainer()
    history = trainer.fit(*small_split, epochs=2)
    assert [record["epoch"] for record in history] == [1, 2]
    assert set(history[0]) == {"epoch", "train_loss", "train_accuracy", "val_loss", "val_accuracy", "lr",
                               "seconds", "examples_per_second"}
    assert history[1]["train_loss"] < history[0]["train_loss"]
    assert trainer.step == 2 * 15  # 480 examples in batches of 32


def test_same_seed_same_run_other_seed_other_run(make_trainer, small_split):
    first, second, third = make_trainer(), make_trainer(), make_trainer(seed=6)
    for trainer in (first, second, third):
        trainer.fit(*small_split, epochs=1)
    assert without_timing(first.history) == without_timing(second.history)
    assert_same_state(first.model.state(), second.model.state())
    assert without_timing(first.history) != without_timing(third.history)


def test_resumed_run_equals_uninterrupted_run(make_trainer, small_split, tmp_path):
    # uninterrupted: 2 epochs straight
    straight = make_trainer(tmp_path / "straight")
    (tmp_path / "straight").mkdir()
    straight.fit(*small_split, epochs=2)

    # interrupted: "killed" in the middle of epoch 2, after epoch 1's checkpoint was written
    (tmp_path / "killed").mkdir()
    killed = make_trainer(tmp_path / "killed")
    step = killed.optimizer.step
    calls = []

    def dies_in_epoch_two():
        calls.append(1)
        if len(calls) == 20:
            raise KeyboardInterrupt
        step()

    killed.optimizer.step = dies_in_epoch_two
    with pytest.raises(KeyboardInterrupt):
        killed.fit(*small_split, epochs=2)
    assert load_checkpoint(tmp_path / "killed" / "checkpoint.npz").epoch == 1

    # a fresh process would build everything anew, then resume
    resumed = make_trainer(tmp_path / "killed")
    resumed.resume(tmp_path / "killed" / "checkpoint.npz")
    resumed.fit(*small_split, epochs=2)

    assert without_timing(resumed.history) == without_timing(straight.history)
    assert_same_state(resumed.model.state(), straight.model.state())
    assert_same_state(resumed.optimizer.state_dict()[0], straight.optimizer.state_dict()[0])
    assert resumed.step == straight.step
    assert resumed.rng.bit_generator.state == straight.rng.bit_generator.state


def test_checkpoint_holds_every_generator(make_trainer, small_split, tmp_path):
    trainer = make_trainer(tmp_path)
    trainer.fit(*small_split, epochs=1)
    checkpoint = load_checkpoint(tmp_path / "checkpoint.npz")
    assert set(checkpoint.generators) == {"shuffle", "3.rng"}  # the order/augmentation and the Dropout
    assert checkpoint.generators["3.rng"] == trainer.model.layers[3].rng.bit_generator.state
    assert (tmp_path / "best.npz").is_file()


def test_resume_refuses_a_checkpoint_of_another_model(make_trainer, small_split, tmp_path):
    from volnet.models import build_model
    from volnet.optim import make_optimizer

    make_trainer(tmp_path).fit(*small_split, epochs=1)
    model = build_model("conv3-4 relu pool fc10", (1, 28, 28))
    other = Trainer(model, make_optimizer("adam", model.parameters()), progress=False)
    with pytest.raises(ValueError, match="different model"):
        other.resume(tmp_path / "checkpoint.npz")


def test_early_stopping_after_patience_epochs(make_trainer, small_split):
    # lr = 0 and no batch norm: nothing changes after the first epoch, so patience 2 stops after epoch 3
    lines = []
    trainer = make_trainer(lr=0.0, patience=2, architecture="conv3-4 relu pool fc10")
    trainer.log = lines.append
    history = trainer.fit(*small_split, epochs=6)
    assert len(history) == 3
    assert trainer.best["epoch"] == 1
    assert "early stopping" in lines[-1]


def test_monitor_and_patience_are_checked(make_trainer):
    with pytest.raises(ValueError, match="monitor must be one of"):
        make_trainer(monitor="accuracy")
    with pytest.raises(ValueError, match="patience"):
        make_trainer(patience=0)


def test_without_validation_the_training_loss_is_monitored(make_trainer, small_split):
    trainer = make_trainer()
    history = trainer.fit(small_split[0], None, epochs=2)
    assert history[0]["val_loss"] is None and history[0]["val_accuracy"] is None
    assert trainer.best["value"] == min(record["train_loss"] for record in history)


def test_one_line_per_epoch(make_trainer, small_split):
    lines = []
    trainer = make_trainer()
    trainer.log = lines.append
    trainer.fit(*small_split, epochs=2)
    assert len(lines) == 2 and lines[0].startswith("epoch 1/2  train loss")
    assert "val loss" in lines[0] and "ex/s" in lines[0]


# -- callbacks -------------------------------------------------------------------------------------


class Recorder:
    def __init__(self, stop_at=None, lr_at=None):
        self.steps, self.epochs, self.stop_at, self.lr_at = [], [], stop_at, lr_at

    def on_step(self, trainer, step):
        self.steps.append(dict(step))
        if self.lr_at is not None and step["step"] == self.lr_at[0]:
            trainer.optimizer.lr = self.lr_at[1]
        if step["step"] == self.stop_at:
            trainer.request_stop()

    def on_epoch(self, trainer, record):
        self.epochs.append(record["epoch"])


def test_every_step_and_epoch_is_reported(make_trainer, small_split):
    recorder = Recorder()
    trainer = make_trainer(callbacks=[recorder])
    trainer.fit(*small_split, epochs=2)
    assert [s["step"] for s in recorder.steps] == list(range(1, 31))
    assert [s["epoch"] for s in recorder.steps] == [1] * 15 + [2] * 15
    assert recorder.epochs == [1, 2]
    assert {"loss", "accuracy", "lr", "examples", "seconds"} <= set(recorder.steps[0])
    assert all(0 <= s["accuracy"] <= 1 and np.isfinite(s["loss"]) for s in recorder.steps)
    assert sum(s["examples"] for s in recorder.steps[:15]) == 480


def test_a_callback_stops_the_run_after_the_step(make_trainer, small_split):
    recorder = Recorder(stop_at=4)
    trainer = make_trainer(callbacks=[recorder])
    history = trainer.fit(*small_split, epochs=2)
    assert trainer.step == 4 and history == [] and recorder.epochs == []


def test_a_callback_that_does_nothing_changes_nothing(make_trainer, small_split):
    plain, observed = make_trainer(), make_trainer(callbacks=[object(), Recorder()])
    plain.fit(*small_split, epochs=1)
    observed.fit(*small_split, epochs=1)
    for name, value in plain.model.state().items():
        assert np.array_equal(value, observed.model.state()[name]), name


def test_a_learning_rate_set_by_a_callback_applies_at_the_next_step(make_trainer, small_split):
    recorder = Recorder(lr_at=(3, 0.5))
    trainer = make_trainer(callbacks=[recorder])
    trainer.schedule = None
    trainer.fit(*small_split, epochs=1)
    assert [s["lr"] for s in recorder.steps[:5]] == [2e-3, 2e-3, 2e-3, 0.5, 0.5]
