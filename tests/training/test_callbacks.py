"""Callbacks: told about every step and epoch, able to change the optimizer and to stop the run."""

import numpy as np


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
