"""A whole run on the embedded sample: it learns, writes its files, saves a model that predicts
identically after loading, and resumes exactly; the settings a run checks, and those a resume
may change."""

import dataclasses
import json

import numpy as np
import pytest

from volnet.data import load_dataset
from volnet.training import Trainer, predict_proba
from volnet.errors import SettingError, flag
from volnet.training import Checkpoint, save_checkpoint
from volnet.models import get_preset
from volnet.training.run import (RESUME_MAY_CHANGE, TrainingConfig, load_config, load_trained_model, parse_augment,
                                 preset_architecture, resume_config, train)

QUICK = dict(limit=2000, epochs=2, val_fraction=0.1)


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    return train(TrainingConfig(**QUICK), out, progress=False, log=lambda line: None), out


@pytest.mark.slow
def test_a_short_run_learns_well_above_chance(quick_run):
    result, _ = quick_run
    assert result.test.accuracy > 0.6  # chance is 0.1; this run reaches about 0.8
    assert len(result.history) == 2 and result.validation is not None


@pytest.mark.slow
def test_the_run_writes_its_files(quick_run):
    result, out = quick_run
    for name in ("model.npz", "history.json", "metrics.json", "checkpoint.npz", "best.npz", "curves.png"):
        assert (out / name).is_file(), name
    assert json.loads((out / "history.json").read_text()) == result.history
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["test"]["accuracy"] == result.test.accuracy
    assert len(metrics["test"]["per_class_accuracy"]) == 10
    assert metrics["weights"] == "last" and metrics["test"]["tta_views"] == 1  # no EMA, no test-time views
    assert load_config(out) == TrainingConfig(**QUICK)


@pytest.mark.slow
def test_the_saved_model_needs_nothing_else_and_predicts_identically(quick_run):
    result, out = quick_run
    model, normalization, class_names, metadata = load_trained_model(out / "model.npz")
    test_set = load_dataset("sample", "test").subset(slice(0, 300))
    assert class_names == test_set.class_names
    assert metadata["architecture"] == "tiny" and metadata["metrics"]["test_accuracy"] == result.test.accuracy
    expected = predict_proba(result.model, test_set, normalize=normalization)
    assert np.array_equal(predict_proba(model, test_set, normalize=normalization), expected)


@pytest.mark.slow
@pytest.mark.parametrize("averaging", [{}, dict(ema=0.99, tta="flip,shift")], ids=["last weights", "ema"])
def test_a_killed_run_resumes_to_the_same_result(tmp_path, monkeypatch, averaging):
    # with an EMA, the saved model holds the averages: they too come out bit-identical
    config = TrainingConfig(**{**dict(limit=400, epochs=2, augment="crop,flip", seed=3, tta=True), **averaging})
    quiet = dict(progress=False, log=lambda line: None)
    straight = train(config, tmp_path / "straight", **quiet)

    step = Trainer.train_step
    calls = []

    def dies_in_epoch_two(self, *batch):
        calls.append(1)
        if len(calls) == 8:  # 360 training examples: 6 steps of 64 per epoch
            raise KeyboardInterrupt
        return step(self, *batch)

    monkeypatch.setattr(Trainer, "train_step", dies_in_epoch_two)
    with pytest.raises(KeyboardInterrupt):
        train(config, tmp_path / "killed", **quiet)
    monkeypatch.setattr(Trainer, "train_step", step)
    resumed = train(load_config(tmp_path / "killed"), tmp_path / "killed", resume=True, **quiet)

    strip = [{key: value for key, value in record.items() if key not in ("seconds", "examples_per_second")}
             for record in straight.history]
    assert [{key: record[key] for key in strip[0]} for record in resumed.history] == strip
    for name, value in straight.model.state().items():
        assert np.array_equal(resumed.model.state()[name], value), name
    assert resumed.test.accuracy == straight.test.accuracy
    assert resumed.test.tta and json.loads((tmp_path / "killed" / "metrics.json").read_text())["test"]["tta"]


def test_augment_words():
    assert parse_augment("", 28) is None
    assert parse_augment("crop,flip", 28).padding == 3 and parse_augment("flip", 28).flip
    assert parse_augment("crop:2", 32).padding == 2
    with pytest.raises(ValueError, match="unknown augmentation 'rotate'"):
        parse_augment("crop,rotate", 28)
    for size in (28, None):
        with pytest.raises(ValueError, match="'crop:0' shifts the images by 0 pixels: use crop:N with N ≥ 1"):
            parse_augment("flip,crop:0", size)
    for word in ("crop:28", "crop:99"):  # the image shifted out of view
        with pytest.raises(ValueError, match=rf"'{word}' would shift 28×28 images .* out of view: use crop:N with N < 28"):
            parse_augment(f"flip,{word}", 28)
    assert parse_augment("crop:99", None).padding == 99  # bounded once the image size is known


def test_settings_are_checked_before_anything_is_loaded(tmp_path):
    with pytest.raises(ValueError, match="unknown optimizer 'adamm'"):
        train(TrainingConfig(optimizer="adamm"), tmp_path)
    with pytest.raises(ValueError, match="val_fraction must be at least 0 and less than 1, got 1.5"):
        train(TrainingConfig(val_fraction=1.5), tmp_path)


def test_a_model_for_other_classes_is_refused(tmp_path):
    with pytest.raises(ValueError, match="has 10 classes; end the architecture with fc10"):
        train(TrainingConfig(architecture="conv3-4 relu pool fc3", limit=50), tmp_path)


def test_resuming_where_there_is_no_run(tmp_path):
    with pytest.raises(FileNotFoundError, match="no run to resume"):
        load_config(tmp_path)


@pytest.mark.parametrize("settings, message", [
    (dict(epochs=0), "epochs must be at least 1, got 0"),
    (dict(lr=0.0), "lr must be greater than 0, got 0.0"),
    (dict(limit=1), "limit must be at least 2, got 1"),
    (dict(label_smoothing=1.0), "label_smoothing must be at least 0 and less than 1, got 1.0"),
    (dict(optimizer="adamm"), "unknown optimizer 'adamm'; choose one of sgd"),
])
def test_each_setting_is_named_by_its_parameter(settings, message):
    with pytest.raises(SettingError) as caught:
        TrainingConfig(**settings).check()
    assert str(caught.value).startswith(message) and caught.value.setting == next(iter(settings))


@pytest.mark.parametrize("settings, examples, message", [
    (dict(val_fraction=0.01), 18, "val_fraction 0.01 holds out 0 of the 18 training examples for validation; "
                                  "choose a value between 0.0556 and 0.944, or 0 for no validation split"),
    (dict(val_fraction=0.1, limit=2), 1000, "val_fraction 0.1 holds out 0 of the 2 training examples"),  # after limit
    (dict(val_fraction=0, warmup=5, epochs=1), 18, "warmup 5 is not fewer than the 1 steps of the whole run (epochs "
                                                   "× batches of batch_size); choose fewer warm-up steps"),
    (dict(val_fraction=0, schedule="onecycle", epochs=1), 18,
     "schedule onecycle rises over the first 30% of the steps, so it needs more than 3 steps after the warm-up, and "
     "this run has 1 (epochs × batches of batch_size); train longer or choose another schedule"),
])
def test_settings_that_depend_on_the_training_split_size(settings, examples, message):
    with pytest.raises(SettingError) as caught:
        TrainingConfig(**settings).check_for(examples)
    assert str(caught.value).startswith(message)


def test_settings_that_fit_the_training_split_pass():
    TrainingConfig(val_fraction=0.1, warmup=10, schedule="onecycle", epochs=1, batch_size=8).check_for(200)
    TrainingConfig(val_fraction=0, schedule="onecycle", epochs=4, batch_size=64).check_for(18)  # 4 steps


def saved_run(folder, **settings):
    # a checkpoint holding only the configuration, which is all resume_config reads
    config = TrainingConfig(**settings)
    save_checkpoint(folder / "checkpoint.npz", Checkpoint({}, {}, {}, 1, 1, [], {}, {}, {"config":
                                                                                    dataclasses.asdict(config)}))
    return config


def test_a_resume_may_change_where_the_data_is_and_the_final_evaluation(tmp_path):
    saved = saved_run(tmp_path, epochs=3, lr=0.01)
    assert resume_config(tmp_path) == saved
    assert resume_config(tmp_path, epochs=3, lr=0.01) == saved  # the same settings again are no change
    assert resume_config(tmp_path, tta=True, data_dir="data") == dataclasses.replace(saved, tta=True, data_dir="data")
    assert RESUME_MAY_CHANGE == ("data_dir", "tta")


def test_a_resume_refuses_every_other_change_and_names_it(tmp_path):
    saved_run(tmp_path, epochs=3, lr=0.01)
    with pytest.raises(SettingError) as caught:
        resume_config(tmp_path, lr=0.1, epochs=3, seed=4, tta=True)
    assert str(caught.value) == (f"resume {tmp_path} continues the run with the settings it was started with (lr "
                                 f"0.01, seed 0); they cannot change mid-run: leave out lr, seed, or start a new run "
                                 f"with out_dir")
    assert caught.value.worded(flag).startswith(f"--resume {tmp_path} continues the run with the settings it was "
                                                f"started with (--lr 0.01, --seed 0); they cannot change mid-run: "
                                                f"leave out --lr, --seed, or start a new run with --out")


def test_a_preset_is_named_as_a_preset_and_a_string_as_an_architecture(tmp_path):
    saved_run(tmp_path, architecture="tiny")
    with pytest.raises(SettingError, match=r"\(preset tiny\); they cannot change mid-run: leave out architecture,"):
        resume_config(tmp_path, architecture="fc10")
    saved_run(tmp_path, architecture="fc10")
    with pytest.raises(SettingError, match=r"\(architecture 'fc10'\); they cannot change mid-run: leave out preset,"):
        resume_config(tmp_path, architecture="fashion")
    with pytest.raises(TypeError, match="resume_config got settings a TrainingConfig does not have: colour"):
        resume_config(tmp_path, colour="red")


def test_the_sanity_checks_are_for_a_fresh_run_only(tmp_path):
    with pytest.raises(SettingError, match=r"^sanity checks a fresh model before training; it has no effect with "
                                           r"resume, leave it out$"):
        train(TrainingConfig(), tmp_path, resume=True, sanity=True)
    assert list(tmp_path.iterdir()) == []


def test_a_preset_gets_a_last_layer_for_the_classes_of_an_image_folder(tmp_path):
    for name in ("cat", "dog", "owl"):
        (tmp_path / "train" / name).mkdir(parents=True)
        (tmp_path / "test" / name).mkdir(parents=True)
    assert preset_architecture("Tiny", str(tmp_path)) == get_preset("tiny").architecture_for(3)
    (tmp_path / "test" / "owl").rmdir()  # the classes are the training split's
    assert preset_architecture("tiny", str(tmp_path)).endswith("fc64 relu fc3")
    (tmp_path / "train" / "eel").mkdir()
    assert preset_architecture("tiny", str(tmp_path / "train")).endswith("fc4")
    assert preset_architecture("fashion", "fashion-mnist") == preset_architecture("fashion", "sample") == "fashion"
    with pytest.raises(ValueError, match="unknown preset 'tinny'"):
        preset_architecture("tinny", "sample")


def test_a_run_saved_before_ema_and_tta_views_resumes_as_it_was(tmp_path):
    # a configuration written before `ema` existed, with the tta of then (True: the mirror image)
    config = dataclasses.asdict(TrainingConfig(tta=True))
    del config["ema"]
    save_checkpoint(tmp_path / "checkpoint.npz", Checkpoint({}, {}, {}, 1, 1, [], {}, {}, {"config": config}))
    loaded = load_config(tmp_path)
    assert loaded.ema is None and loaded.tta is True
    assert resume_config(tmp_path, tta="flip,shift").tta == "flip,shift"  # the final evaluation may change
    with pytest.raises(SettingError, match=r"\(ema None\); they cannot change mid-run: leave out ema"):
        resume_config(tmp_path, ema=0.999)
