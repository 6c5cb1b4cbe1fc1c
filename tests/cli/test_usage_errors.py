"""Bad usage of the commands: exit status 2 and one line that names the flags, never a traceback;
image-folder datasets; MODEL given as a run folder or another file of a run; closed pipes."""

import errno
import json
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from volnet.cli.main import main
from volnet.errors import describe
from volnet.models import get_preset, load_model
from volnet.data import load_dataset
from volnet.training import evaluate
from volnet.training.run import load_config, load_trained_model


def write_folder(root, classes, images_per_class=6, size=8):
    # random RGB pictures, one sub-folder per class
    rng = np.random.default_rng(0)
    for name in classes:
        (root / name).mkdir(parents=True)
        for index in range(images_per_class):
            Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)).save(root / name / f"{index}.png")
    return root


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("folders")
    return {"three": write_folder(root / "three", ["cat", "dog", "owl"]), "one": write_folder(root / "one", ["cat"])}


@pytest.fixture(scope="module")
def sample_run(tmp_path_factory):
    # a one-epoch run on the embedded sample whose folder the MODEL tests use
    out = tmp_path_factory.mktemp("sample-run")
    assert main(["train", "--limit", "100", "--epochs", "1", "--quiet", "--out", str(out)]) == 0
    return out


@pytest.fixture(scope="module")
def folder_run(folders, tmp_path_factory):
    out = tmp_path_factory.mktemp("folder-run")
    assert main(["train", "--dataset", str(folders["three"]), "--epochs", "1", "--quiet", "--out", str(out)]) == 0
    return out


def error_of(capsys, arguments):
    # the command's exit status must be 2 and its error exactly one line
    assert main(arguments) == 2
    captured = capsys.readouterr()
    command = " ".join(arguments[:2]) if arguments[0] == "show" else arguments[0]
    assert captured.err.startswith(f"volnet {command}: error: ") and captured.err.count("\n") == 1, captured.err
    assert "Traceback" not in captured.err
    return captured.err.removeprefix(f"volnet {command}: error: ").rstrip("\n"), captured.out


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


@pytest.mark.parametrize("command", [["eval"], ["predict", "--index", "0"]])
def test_the_test_split_of_a_one_split_folder_suggests_split_train(command, folders, folder_run, capsys):
    message, _ = error_of(capsys, [command[0], str(folder_run), *command[1:]])
    assert message == (f"the image folder {folders['three']} has no train/ and test/ sub-folders, so it is one "
                       "training split; add --split train to use it")
    assert main([command[0], str(folder_run), *command[1:], "--split", "train", *(["--no-pictures"] * (
        command[0] == "eval"))]) == 0


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
    (["eval", "RUN", "--batch-size", "0"], "--batch-size must be at least 1, got 0"),
    (["eval", "RUN", "--download"], "--download has no effect on the embedded sample"),
    (["eval", "RUN", "--no-pictures", "--out", "pictures"], "--out has no effect with --no-pictures: it is the folder "
                                                            "for the pictures; leave it out"),
    (["eval", "RUN", "--out", "FILE"], "--out FILE is a file; give a folder"),
    (["eval", "RUN", "--metrics-out", "FILE/m.json"], "--metrics-out FILE/m.json: FILE is a file, not a folder"),
    (["eval", "RUN", "--metrics-out", "."], "--metrics-out . is a folder; give a file name, such as metrics.json"),
    (["predict", "RUN", "--top-k", "0", "--index", "0"], "--top-k must be at least 1, got 0"),
    (["predict", "RUN", "FILE", "--index", "0"], "give image files or --index, not both (got 1 image file and "
                                                 "--index 0): --index picks examples of a dataset split instead"),
    (["predict", "RUN", "FILE", "--split", "test"],
     "--split has no effect on image files: --dataset, --split and --data-dir choose the split that --index picks "
     "from; leave it out"),
    (["predict", "RUN", "."], ". is a folder, where a file was expected"),
    (["gradcheck", "--seed", "-1"], "--seed must be at least 0, got -1"),
    (["summary", "tiny", "--input-shape", "28,28,1"], "--input-shape 28,28,1 reads as D=28, H=28, W=1; volnet "
                                                      "writes the depth first (D,H,W): did you mean 1,28,28?"),
])
def test_bad_flags_are_named_before_any_work(arguments, message, sample_run, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "FILE").write_text("not a folder")
    found, out = error_of(capsys, [str(sample_run) if argument == "RUN" else argument for argument in arguments])
    assert found.startswith(message)
    assert out == ""  # nothing was evaluated or trained first
    assert sorted(path.name for path in tmp_path.iterdir()) == ["FILE"]


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


def test_eval_and_predict_match_a_folder_s_classes_to_the_model_s_by_name(sample_run, tmp_path, capsys):
    # the sample's test images saved as a folder ("T-shirt/top" as T-shirt_top): its classes come
    # sorted by name, the model's in Fashion-MNIST's order, and labels must follow the names
    sample = load_dataset("sample", "test").subset(slice(0, 60))
    for index, (image, label) in enumerate(zip(sample.images, sample.labels)):
        folder = tmp_path / "pictures" / sample.class_names[label].replace("/", "_")
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(image[0]).save(folder / f"{index:02d}.png")
    model, normalization, class_names, _ = load_trained_model(sample_run / "model.npz")
    assert class_names != sorted(class_names)
    expected = evaluate(model, sample, normalize=normalization).accuracy
    assert main(["eval", str(sample_run), "--dataset", str(tmp_path / "pictures"), "--split", "train",
                 "--no-pictures"]) == 0
    assert f"accuracy {expected:.2%}" in capsys.readouterr().out
    first_folder = min(sample.class_names[label].replace("/", "_") for label in sample.labels)  # holds image 0
    assert main(["predict", str(sample_run), "--dataset", str(tmp_path / "pictures"), "--split", "train",
                 "--index", "0"]) == 0
    assert f"(true: {first_folder})" in capsys.readouterr().out


def test_a_folder_with_other_classes_than_the_model_is_refused(sample_run, folders, capsys):
    message, _ = error_of(capsys, ["eval", str(sample_run), "--dataset", str(folders["three"]), "--split", "train"])
    assert message.startswith("three has other classes than the model: the model knows 'T-shirt/top', 'Trouser'")


# -- MODEL: a run folder, or another file of a run ----------------------------------------------------

def test_a_run_folder_stands_for_its_model(sample_run, capsys):
    assert main(["eval", str(sample_run), "--no-pictures"]) == 0
    assert capsys.readouterr().out.startswith(f"{sample_run / 'model.npz'} on sample/test (2000 images)")


@pytest.mark.parametrize("name, message", [
    ("history.json", "RUN/history.json is not a model file (a .npz file); give RUN/model.npz"),
    ("best.npz", "RUN/best.npz is a training checkpoint (of the best epoch), not a model; give RUN/model.npz"),
    ("checkpoint.npz", "RUN/checkpoint.npz is a training checkpoint (of the last epoch), not a model; give "
                       "RUN/model.npz"),
])
def test_other_files_of_a_run_name_the_model_to_give(name, message, sample_run, capsys):
    found, _ = error_of(capsys, ["eval", str(sample_run / name)])
    assert found == message.replace("RUN", str(sample_run))


def test_folders_without_a_model(sample_run, tmp_path, capsys):
    assert error_of(capsys, ["predict", str(tmp_path), "--index", "0"])[0] == (
        f"{tmp_path} is a folder without a model.npz; give the model.npz that `volnet train` wrote")
    (tmp_path / "checkpoint.npz").write_bytes((sample_run / "checkpoint.npz").read_bytes())
    assert error_of(capsys, ["summary", str(tmp_path)])[0] == (
        f"{tmp_path} holds a run that has not finished (it has checkpoint.npz but no model.npz); finish it with: "
        f"volnet train --resume {tmp_path}")


# -- operating-system errors and closed pipes --------------------------------------------------------

def test_operating_system_errors_become_sentences_about_the_path():
    assert describe(FileExistsError(errno.EEXIST, "File exists", "runs/a")) == (
        "runs/a already exists as a file, where a folder was expected")
    assert describe(IsADirectoryError(errno.EISDIR, "Is a directory", "out")) == (
        "out is a folder, where a file was expected")
    assert describe(FileNotFoundError("no model file at m.npz")) == "no model file at m.npz"


@pytest.mark.parametrize("arguments", [["summary", "tiny"], ["predict", "RUN", "--index", "0", "1", "2"]])
def test_a_closed_pipe_ends_the_command_quietly(arguments, sample_run):
    # as `volnet summary tiny | head -0`: the reader is gone before the first line is written
    read, write = os.pipe()
    os.close(read)
    command = [sys.executable, "-m", "volnet", *(str(sample_run) if a == "RUN" else a for a in arguments)]
    try:
        done = subprocess.run(command, stdout=write, stderr=subprocess.PIPE, text=True, timeout=120)
    finally:
        os.close(write)
    assert (done.returncode, done.stderr) == (1, "")


# -- volnet show ---------------------------------------------------------------------------------

@pytest.mark.parametrize("arguments, message", [
    (["conv", "--depth", "0"], "--depth must be at least 1, got 0"),
    (["conv", "--width", "0"], "--width must be at least 1, got 0"),
    (["conv", "--height", "-2"], "--height must be at least 1, got -2"),
    (["conv", "--pad", "-1"], "--pad must be at least 0, got -1"),
    (["conv", "--seed", "-1"], "--seed must be at least 0, got -1"),
    (["pool", "--stride", "0"], "--stride must be at least 1, got 0"),
    (["backprop", "--size", "0"], "--size must be at least 1, got 0"),
    (["kernels", "--index", "-1"], "--index must be at least 0, got -1"),
    (["kernels", "--index", "5000"], "the Fashion-MNIST sample's test split has images 0 to 1999; there is no image "
                                     "5000"),
    (["conv", "--out", "FILE"], "--out FILE is a file; give a folder (volnet creates it if missing)"),
    (["model", "tiny", "--input-shape", "32x32x3"], "--input-shape 32x32x3 reads as D=32, H=32, W=3; volnet writes "
                                                    "the depth first (D,H,W): did you mean 3,32,32?"),
    (["activations", "RUN", "FILE", "--index", "3"], "--index has no effect with an IMAGE: it picks a Fashion-MNIST "
                                                     "sample image to use instead; leave it out"),
    (["filters", "RUN/best.npz"], "RUN/best.npz is a training checkpoint (of the best epoch), not a model"),
])
def test_show_names_its_flags(arguments, message, sample_run, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "FILE").write_text("not a folder")
    found, out = error_of(capsys, ["show", *(argument.replace("RUN", str(sample_run)) for argument in arguments)])
    assert found.startswith(message.replace("RUN", str(sample_run))) and out == ""


def test_show_model_and_summary_give_an_architecture_string_the_same_input(tmp_path, monkeypatch, capsys):
    from volnet.viz import diagram

    assert main(["summary", "conv3-8 relu pool fc10"]) == 0
    assert "   input                          28×28×1" in capsys.readouterr().out
    drawn = []
    monkeypatch.setattr(diagram, "save_model_figure", lambda volumes, folder, title: drawn.extend(volumes) or [])
    assert main(["show", "model", "conv3-8 relu pool fc10", "--out", str(tmp_path)]) == 0
    assert drawn[0].shape == (1, 28, 28)
