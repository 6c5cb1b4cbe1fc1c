"""`volnet train` (volnet.cli.train): what a run reports and writes; image folders; the flags
checked before anything is loaded and those checked against the training split, named as
flags; --resume."""

import json

import pytest

from volnet.cli.main import main
from volnet.models import get_preset, load_model
from volnet.training.run import load_config

from tests.cli.conftest import QUICK_TRAIN, error_of, refused_before_any_work


def test_train_reports_accuracy_and_files(run_dir, capsys):
    assert main([*QUICK_TRAIN, "--out", str(run_dir / "again"), "--sanity"]) == 0
    out = capsys.readouterr().out
    assert "sanity: initial loss" in out and "sanity: overfitting 32 examples" in out
    assert "epoch 1/1  train loss" in out
    assert "test accuracy" in out and f"model {run_dir / 'again' / 'model.npz'}" in out
    assert (run_dir / "extra.json").is_file() and (run_dir / "curves.png").is_file()


def test_resuming_a_finished_run_changes_nothing(run_dir, capsys):
    before = (run_dir / "model.npz").stat().st_size
    assert main(["train", "--resume", str(run_dir), "--quiet"]) == 0
    out = capsys.readouterr().out
    # one message, said once (not "finished" and then "resuming")
    assert out.count(f"{run_dir} holds a finished run (1 of 1 epochs): nothing is left to train") == 1
    assert "resuming" not in out
    assert (run_dir / "model.npz").stat().st_size == before


# -- image folders ---------------------------------------------------------------------------

def test_a_preset_gets_a_last_layer_for_the_classes_and_the_input_of_an_image_folder(folder_run, capsys):
    model, metadata = load_model(folder_run / "model.npz")
    assert model.input_shape == (3, 8, 8) and model.output_shape(model.input_shape) == (3,)
    assert metadata["architecture"] == get_preset("tiny").architecture_for(3)
    assert get_preset("tiny").architecture_for(3).endswith("fc64 relu fc3")


def test_the_resized_preset_is_announced(folders, tmp_path, capsys):
    assert main(["train", "--dataset", str(folders["three"]), "--preset", "Fashion", "--epochs", "1", "--quiet",
                 "--val-fraction", "0", "--out", str(tmp_path)]) == 0
    assert f"the fashion preset, resized for the classes of {folders['three']}: " in capsys.readouterr().out
    assert load_config(tmp_path).architecture.endswith("dropout0.3 fc3")


def test_preset_names_ignore_case():
    assert get_preset(" Tiny ").name == "tiny"
    with pytest.raises(ValueError, match=r"the tiny preset classifies into at least 2 classes, got 1"):
        get_preset("tiny").architecture_for(1)


def test_an_image_folder_with_one_class(folders, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    message, _ = error_of(capsys, ["train", "--dataset", str(folders["one"])])
    assert message.startswith(f"{folders['one']}: only one class sub-folder, 'cat'; a classifier needs at least 2 "
                              "classes, one sub-folder of images per class")
    assert list(tmp_path.iterdir()) == []


# -- numbers that depend on the training split, said with flags -----------------------------------

@pytest.mark.parametrize("options, message", [
    (["--val-fraction", "0.01"], "--val-fraction 0.01 holds out 0 of the 18 training examples for validation; "
                                 "choose a value between 0.0556 and 0.944, or 0 for no validation split"),
    (["--val-fraction", "0", "--warmup", "5"], "--warmup 5 is not fewer than the 1 steps of the whole run (--epochs × "
                                               "batches of --batch-size); choose fewer warm-up steps"),
    (["--val-fraction", "0", "--schedule", "onecycle"],
     "--schedule onecycle rises over the first 30% of the steps, so it needs more than 3 steps after the warm-up, "
     "and this run has 1 (--epochs × batches of --batch-size); train longer or choose another --schedule"),
])
def test_settings_checked_against_the_training_split_name_their_flags(options, message, folders, tmp_path, capsys):
    assert error_of(capsys, ["train", "--dataset", str(folders["three"]), "--epochs", "1", *options,
                             "--out", str(tmp_path / "run")])[0] == message


# -- flags checked before anything is loaded -------------------------------------------------------

@pytest.mark.parametrize("arguments, message", [
    (["train", "--lr", "0"], "--lr must be greater than 0, got 0.0"),
    (["train", "--weight-decay", "-0.1"], "--weight-decay must be at least 0, got -0.1"),
    (["train", "--clip-norm", "0"], "--clip-norm must be greater than 0, got 0.0"),
    (["train", "--warmup", "-1"], "--warmup must be at least 0, got -1"),
    (["train", "--batch-size", "0"], "--batch-size must be at least 1, got 0"),
    (["train", "--label-smoothing", "1"], "--label-smoothing must be at least 0 and less than 1, got 1.0"),
    (["train", "--val-fraction", "1.5"], "--val-fraction must be at least 0 and less than 1, got 1.5"),
    (["train", "--patience", "0"], "--patience must be at least 1, got 0"),
    (["train", "--seed", "-1"], "--seed must be at least 0, got -1"),
    (["train", "--limit", "1"], "--limit must be at least 2, got 1"),
    (["train", "--preset", "Tinny"], "unknown preset 'Tinny' (did you mean 'tiny'?); the presets are"),
    (["train", "--data-dir", "data"], "--data-dir has no effect on the embedded sample, which is neither looked for "
                                      "in a folder nor downloaded (only mnist, fashion-mnist, cifar10 are); leave it "
                                      "out"),
    (["train", "--out", "FILE"], "--out FILE is a file; give a folder (volnet creates it if missing)"),
    (["train", "--out", "FILE/run"], "--out FILE/run lies inside FILE, which is a file; give a folder (volnet "
                                     "creates it if missing)"),
    (["train", "--metrics-out", "nowhere/m.json"], "--metrics-out nowhere/m.json: the folder nowhere does not exist; "
                                                   "give a file in an existing folder"),
])
def test_bad_flags_are_named_before_any_work(arguments, message, sample_run, tmp_path, monkeypatch, capsys):
    refused_before_any_work(arguments, message, sample_run, tmp_path, monkeypatch, capsys)


# -- --resume ------------------------------------------------------------------------------------

@pytest.mark.parametrize("options, message", [
    (["--epochs", "3", "--lr", "0.1"], "--resume RUN continues the run with the settings it was started with "
                                       "(--lr 0.002, --epochs 1); they cannot change mid-run: leave out --lr, "
                                       "--epochs, or start a new run with --out"),
    (["--arch", "fc10"], "(--preset tiny); they cannot change mid-run: leave out --arch"),
    (["--out", "elsewhere"], "--resume RUN continues the run in its own folder; leave out --out elsewhere"),
    (["--sanity"], "--sanity checks a fresh model before training; it has no effect with --resume, leave it out"),
])
def test_resume_refuses_options_it_would_ignore(options, message, sample_run, capsys):
    found, _ = error_of(capsys, ["train", "--resume", str(sample_run), *options])
    assert message.replace("RUN", str(sample_run)) in found


def test_resume_accepts_the_settings_the_run_was_started_with(sample_run, capsys):
    assert main(["train", "--resume", str(sample_run), "--limit", "100", "--epochs", "1", "--quiet"]) == 0
    assert f"{sample_run} holds a finished run (1 of 1 epochs): nothing is left to train" in capsys.readouterr().out


def test_a_finished_run_resumed_with_tta_is_evaluated_with_it(sample_run, capsys):
    # --tta changes only the evaluation after the last epoch, so it may be added on resume
    assert main(["train", "--resume", str(sample_run), "--tta", "--quiet"]) == 0
    assert "(each averaged with its mirror image)" in capsys.readouterr().out
    assert json.loads((sample_run / "metrics.json").read_text())["test"]["tta"] is True


# -- --recipe, --ema, --tta VIEWS ------------------------------------------------------------------

def test_recipe_list_shows_every_recipe(capsys):
    from volnet.training.recipes import RECIPES

    assert main(["train", "--recipe", "list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == list(RECIPES)


def test_a_recipe_sets_every_setting_and_flags_beside_it_replace_its_values(tmp_path, capsys):
    from volnet.training.recipes import get_recipe

    recipe = get_recipe("fashion-3min")
    # --batch-size 64 is the command's default: given beside the recipe, it still replaces the recipe's 128;
    # a bare --tta is the recipe's flip (the same two views), so it is not said to replace it
    assert main(["train", "--recipe", "fashion-3min", "--dataset", "sample", "--limit", "600", "--epochs", "1",
                 "--batch-size", "64", "--tta", "--quiet", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert out.count("recipe fashion-3min: ") == 1
    assert (f"given instead: --dataset sample (the recipe's fashion-mnist), --epochs 1 (the recipe's "
            f"{recipe.config.epochs}), --batch-size 64 (the recipe's 128), --limit 600 (the recipe's none)") in out
    assert "--tta" not in out
    assert load_config(tmp_path) == recipe.with_settings(dataset="sample", epochs=1, batch_size=64, limit=600, tta=True)
    assert "(each averaged with its mirror image)" in out


def test_a_recipe_cannot_be_given_to_a_resumed_run(sample_run, capsys):
    message, _ = error_of(capsys, ["train", "--resume", str(sample_run), "--recipe", "fashion-3min"])
    assert message == ("--recipe has no effect with --resume: the run goes on with the settings it was started with; "
                       "leave it out")


def test_an_ema_run_evaluates_and_saves_the_averaged_weights_over_shifted_views(tmp_path, capsys):
    assert main([*QUICK_TRAIN, "--ema", "0.9", "--tta", "shift", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "the final evaluation and model.npz use the averaged weights (EMA, decay 0.9)" in out
    assert "(each averaged over its 5 views (shift)) with the averaged weights (EMA)" in out
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["weights"] == "ema" and metrics["test"]["tta"] == "shift" and metrics["test"]["tta_views"] == 5
    config = load_config(tmp_path)
    assert config.ema == 0.9 and config.tta == "shift"


@pytest.mark.parametrize("arguments, message", [
    (["train", "--ema", "1"], "--ema must be at least 0 and less than 1, got 1.0"),
    (["train", "--tta", "flop"], "unknown --tta view 'flop': use 'flip' (its mirror image), 'shift'"),
    (["train", "--recipe", "fashion-3mn"], "unknown --recipe 'fashion-3mn' (did you mean 'fashion-3min'"),
])
def test_bad_recipe_and_averaging_flags_are_named_before_any_work(arguments, message, sample_run, tmp_path,
                                                                  monkeypatch, capsys):
    refused_before_any_work(arguments, message, sample_run, tmp_path, monkeypatch, capsys)
