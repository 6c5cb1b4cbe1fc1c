"""`volnet eval` (volnet.cli.eval): its tables, pictures and metrics; --tta; image folders as
the dataset, their classes matched to the model's by name (eval and predict share this);
its flags checked before any work."""

import json

import pytest
from PIL import Image

from volnet.cli.main import main
from volnet.data import load_dataset
from volnet.training import evaluate
from volnet.training.run import load_trained_model

from tests.cli.conftest import error_of, refused_before_any_work


def test_eval_prints_tables_and_draws(run_dir, tmp_path, capsys):
    assert main(["eval", str(run_dir / "model.npz"), "--out", str(tmp_path), "--metrics-out",
                 str(tmp_path / "m.json")]) == 0
    out = capsys.readouterr().out
    assert "accuracy" in out and "Ankle boot" in out and "confusion matrix" in out
    assert (tmp_path / "confusion.png").is_file() and (tmp_path / "misclassified.png").is_file()
    assert (tmp_path / "m.json").is_file()


def test_eval_with_tta_says_so_and_records_it(run_dir, tmp_path, capsys):
    assert main(["eval", str(run_dir), "--tta", "--no-pictures", "--metrics-out", str(tmp_path / "m.json")]) == 0
    assert "each averaged with its mirror image" in capsys.readouterr().out
    assert json.loads((tmp_path / "m.json").read_text())["tta"] is True


@pytest.mark.parametrize("command", [["eval"], ["predict", "--index", "0"]])
def test_the_test_split_of_a_one_split_folder_suggests_split_train(command, folders, folder_run, capsys):
    message, _ = error_of(capsys, [command[0], str(folder_run), *command[1:]])
    assert message == (f"the image folder {folders['three']} has no train/ and test/ sub-folders, so it is one "
                       "training split; add --split train to use it")
    assert main([command[0], str(folder_run), *command[1:], "--split", "train", *(["--no-pictures"] * (
        command[0] == "eval"))]) == 0


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


@pytest.mark.parametrize("arguments, message", [
    (["eval", "RUN", "--batch-size", "0"], "--batch-size must be at least 1, got 0"),
    (["eval", "RUN", "--download"], "--download has no effect on the embedded sample"),
    (["eval", "RUN", "--no-pictures", "--out", "pictures"], "--out has no effect with --no-pictures: it is the folder "
                                                            "for the pictures; leave it out"),
    (["eval", "RUN", "--out", "FILE"], "--out FILE is a file; give a folder"),
    (["eval", "RUN", "--metrics-out", "FILE/m.json"], "--metrics-out FILE/m.json: FILE is a file, not a folder"),
    (["eval", "RUN", "--metrics-out", "."], "--metrics-out . is a folder; give a file name, such as metrics.json"),
])
def test_bad_flags_are_named_before_any_work(arguments, message, sample_run, tmp_path, monkeypatch, capsys):
    refused_before_any_work(arguments, message, sample_run, tmp_path, monkeypatch, capsys)


def test_eval_with_ten_views_says_so_and_records_them(run_dir, tmp_path, capsys):
    assert main(["eval", str(run_dir), "--tta", "flip,shift", "--no-pictures", "--metrics-out",
                 str(tmp_path / "m.json")]) == 0
    assert "each averaged over its 10 views (flip, shift)" in capsys.readouterr().out
    metrics = json.loads((tmp_path / "m.json").read_text())
    assert metrics["tta"] == "flip,shift" and metrics["tta_views"] == 10


def test_eval_names_an_unknown_view_before_any_work(sample_run, tmp_path, monkeypatch, capsys):
    refused_before_any_work(["eval", "RUN", "--tta", "mirror"], "unknown --tta view 'mirror'", sample_run, tmp_path,
                            monkeypatch, capsys)


@pytest.mark.parametrize("tta", [["--tta"], ["--tta", "flip,shift"]])
def test_tta_may_come_before_or_after_the_model(run_dir, tta, capsys):
    model = str(run_dir / "model.npz")
    for argv in (["eval", *tta, model, "--no-pictures"], ["eval", model, *tta, "--no-pictures"]):
        assert main(argv) == 0
    first, second = capsys.readouterr().out.split(f"{model} on ")[1:]
    assert first == second and ("10 views" in first if len(tta) == 2 else "its mirror image" in first)


def test_eval_without_a_model_says_it_is_required(capsys):
    assert main(["eval", "--tta", "flip"]) == 2
    assert "the following arguments are required: MODEL" in capsys.readouterr().err
