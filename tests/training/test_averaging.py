"""Weight averaging (volnet.training.averaging): the EMA formula and its warm-up by hand, batch
norm's running statistics averaged too, the averages used for validation and kept in checkpoints,
and the setting's rule."""

import numpy as np
import pytest

from volnet.errors import SettingError
from volnet.models import build_model
from volnet.npz import write_npz_atomic
from volnet.training import Checkpoint, TrainingConfig, load_checkpoint, save_checkpoint
from volnet.training.averaging import WeightAverage, ema_decay


def test_the_warm_up_by_hand():
    assert ema_decay(0.999, 0) == 1 / 10 and ema_decay(0.999, 90) == 91 / 100
    assert ema_decay(0.9, 80) == 0.9 and ema_decay(0.999, 10**6) == 0.999
    assert ema_decay(0.0, 5) == 0.0  # decay 0: the average is the last weights


def test_the_average_follows_the_formula_in_float64_and_float32():
    for dtype, tolerance in ((np.float64, 1e-15), (np.float32, 1e-6)):
        model = build_model("fc2", (3,), seed=0).to(dtype)
        average = WeightAverage(model, 0.9)
        expected = {name: value.astype(np.float64) for name, value in model.state().items()}
        rng = np.random.default_rng(1)
        for step in range(30):
            for value in model.state().values():
                value[...] = rng.standard_normal(value.shape)
            average.update(model, step)
            keep = min(0.9, (1 + step) / (10 + step))
            expected = {name: keep * expected[name] + (1 - keep) * model.state()[name] for name in expected}
        for name, value in expected.items():
            assert average.state[name].dtype == dtype
            np.testing.assert_allclose(average.state[name], value, rtol=tolerance, atol=tolerance)


def test_decay_zero_keeps_the_last_weights():
    model = build_model("fc2", (3,), seed=0)
    average = WeightAverage(model, 0.0)
    model.state()["0.weight"][...] += 1
    average.update(model, 0)
    assert np.array_equal(average.state["0.weight"], model.state()["0.weight"])


def test_batch_norm_running_statistics_are_averaged_too():
    model = build_model("bn fc2", (4,), seed=0)
    average = WeightAverage(model, 0.5)
    assert {"0.running_mean", "0.running_var"} <= set(average.state)
    model.train()
    model.forward(np.full((8, 4), 3.0, np.float32))  # running mean 0 → 0.3
    average.update(model, 0)  # warm-up: 0.1 of the old, 0.9 of the new
    np.testing.assert_allclose(average.state["0.running_mean"], 0.9 * 0.3, rtol=1e-6)


def test_applied_lends_the_averages_and_gives_the_weights_back_even_after_an_error():
    model = build_model("fc2", (3,), seed=0)
    own = {name: value.copy() for name, value in model.state().items()}
    average = WeightAverage(model, 0.9)
    for value in average.state.values():
        value[...] = 7
    with pytest.raises(RuntimeError):
        with average.applied(model):
            assert all(np.all(value == 7) for value in model.state().values())
            raise RuntimeError
    for name, value in own.items():
        assert np.array_equal(model.state()[name], value)


def test_averages_of_another_model_are_refused():
    average = WeightAverage(build_model("fc2", (3,), seed=0), 0.9)
    with pytest.raises(ValueError, match=r"weight averages do not match the model: missing \['0.bias'\]"):
        average.load({"0.weight": np.zeros((2, 3))})
    with pytest.raises(ValueError, match=r"the weight average of 0.bias has shape \(5,\), the model's \(2,\)"):
        average.load({"0.weight": np.zeros((2, 3)), "0.bias": np.zeros(5)})
    with pytest.raises(ValueError, match=r"decay in \[0, 1\), got 1"):
        WeightAverage(build_model("fc2", (3,), seed=0), 1)


@pytest.mark.parametrize("decay, message", [(1.0, "ema must be at least 0 and less than 1, got 1.0"),
                                            (-0.5, "ema must be at least 0 and less than 1, got -0.5")])
def test_the_setting_is_named(decay, message):
    with pytest.raises(SettingError) as caught:
        TrainingConfig(ema=decay).check()
    assert str(caught.value) == message and caught.value.setting == "ema"
    TrainingConfig(ema=0).check()
    TrainingConfig(ema=0.999).check()


def test_validation_measures_the_averaged_weights(make_trainer, small_split):
    trainer = make_trainer(ema=0.9)
    trainer.fit(*small_split, epochs=1)
    last = trainer.history[-1]
    with trainer.average.applied(trainer.model):
        averaged = trainer.measure(small_split[1])
    assert last["val_loss"] == averaged.loss and last["val_accuracy"] == averaged.accuracy
    plain = make_trainer()  # the same run without averages reaches the same last weights
    plain.fit(*small_split, epochs=1)
    for name, value in plain.model.state().items():
        assert np.array_equal(trainer.model.state()[name], value), name
    assert not all(np.array_equal(trainer.average.state[name], value) for name, value in plain.model.state().items())


def test_a_checkpoint_holds_the_averages_and_a_run_without_them_is_refused(make_trainer, small_split, tmp_path):
    trainer = make_trainer(out_dir=tmp_path, ema=0.9)
    trainer.fit(*small_split, epochs=1)
    again = make_trainer(ema=0.9)
    again.resume(tmp_path / "checkpoint.npz")
    for name, value in trainer.average.state.items():
        assert np.array_equal(again.average.state[name], value), name
    with pytest.raises(ValueError, match="the checkpoint keeps weight averages .* but this run has none"):
        make_trainer().resume(tmp_path / "checkpoint.npz")
    plain = make_trainer(out_dir=tmp_path / "plain")
    plain.fit(*small_split, epochs=1)
    with pytest.raises(ValueError, match="the checkpoint has no weight averages .* but this run keeps one"):
        make_trainer(ema=0.9).resume(tmp_path / "plain" / "checkpoint.npz")


def test_a_checkpoint_from_before_averaging_reads_as_none(tmp_path):
    # the metadata of a checkpoint written before weight averaging existed: no "averaged" entry
    meta = {"version": 1, "epoch": 1, "step": 3, "history": [], "generators": {}, "optimizer": {}, "best": {},
            "settings": {}, "first_loss": 2.3}
    write_npz_atomic(tmp_path / "old.npz", {"model/0.weight": np.zeros((2, 3))}, meta, kind="checkpoint")
    assert load_checkpoint(tmp_path / "old.npz").averages is None
    save_checkpoint(tmp_path / "new.npz", Checkpoint({}, {}, {}, 1, 3, [], {}, {}, averages={"0.bias": np.ones(2)}))
    assert load_checkpoint(tmp_path / "new.npz").averages["0.bias"].tolist() == [1, 1]
