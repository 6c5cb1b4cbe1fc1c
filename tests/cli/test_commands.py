"""The train, eval, predict, summary and gradcheck commands, called as `volnet ...` would be."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from volnet.cli.main import main

COMMANDS = ("train", "eval", "predict", "summary", "gradcheck")
QUICK_TRAIN = ["train", "--limit", "300", "--epochs", "1", "--quiet"]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    # one quick run whose model the other commands use
    out = tmp_path_factory.mktemp("run")
    assert main([*QUICK_TRAIN, "--out", str(out), "--metrics-out", str(out / "extra.json")]) == 0
    return out


def one_error_line(capsys, command):
    error = capsys.readouterr().err
    assert "Traceback" not in error
    assert error.startswith(f"volnet {command}: error: ")
    return error


@pytest.mark.parametrize("command", COMMANDS)
def test_help(command, capsys):
    with pytest.raises(SystemExit) as done:
        main([command, "--help"])
    assert done.value.code == 0
    assert f"usage: volnet {command}" in capsys.readouterr().out


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


def test_predict_dataset_examples_and_image_files(run_dir, tmp_path, capsys):
    assert main(["predict", str(run_dir / "model.npz"), "--index", "0", "5", "--top-k", "2"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2 and lines[0].startswith("sample/test[0] (true: Ankle boot): ")
    assert lines[0].count("%") == 2
    # an RGB picture of another size is converted and resized to the model's 28×28×1
    picture = tmp_path / "shirt.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (40, 30, 3), dtype=np.uint8)).save(picture)
    assert main(["predict", str(run_dir / "model.npz"), str(picture)]) == 0
    assert capsys.readouterr().out.startswith(f"{picture}: ")


@pytest.mark.parametrize("spec", ["tiny", "[conv3-8 relu]*2 pool fc10", "MODEL"])
def test_summary(spec, run_dir, capsys):
    assert main(["summary", str(run_dir / "model.npz") if spec == "MODEL" else spec]) == 0
    assert "parameters:" in capsys.readouterr().out


def test_summary_with_an_input_shape(capsys):
    assert main(["summary", "conv3-8 relu pool fc10", "--input-shape", "3,32,32"]) == 0
    assert "32×32×3" in capsys.readouterr().out


def test_gradcheck_passes(capsys):
    assert main(["gradcheck"]) == 0
    out = capsys.readouterr().out
    assert "FAIL" not in out and "PASS" in out and "batch norm" in out and "residual" in out


@pytest.mark.parametrize("arguments, message", [
    (["train", "--preset", "tinny"], "did you mean 'tiny'"),
    (["train", "--dataset", "/no/such/folder"], "unknown dataset"),
    (["train", "--augment", "rotate"], "unknown augmentation"),
    (["train", "--epochs", "0"], "--epochs must be at least 1, got 0"),
    (["train", "--resume", "/no/such/run"], "no run to resume"),
    (["eval", "/no/such/model.npz"], "no model file"),
    (["predict", "MODEL"], "nothing to classify"),
    (["predict", "MODEL", "--index", "99999"], "outside sample/test"),
    (["predict", "MODEL", "/no/such/picture.png"], "no image at"),
    (["eval", "CHECKPOINT"], "is a training checkpoint (of the last epoch), not a model; give "),
    (["summary", "tiny", "--input-shape", "3,x"], "--input-shape wants whole numbers"),
])
def test_user_errors_exit_2_with_one_line(arguments, message, run_dir, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    files = {"MODEL": str(run_dir / "model.npz"), "CHECKPOINT": str(run_dir / "checkpoint.npz")}
    assert main([files.get(argument, argument) for argument in arguments]) == 2
    error = one_error_line(capsys, arguments[0])
    assert message in error and error.count("\n") == 1
    assert list(tmp_path.iterdir()) == []  # a run that cannot start leaves no output folder behind


def test_a_corrupt_model_file_is_reported(run_dir, tmp_path, capsys):
    broken = tmp_path / "model.npz"
    broken.write_bytes((run_dir / "model.npz").read_bytes()[:1000])
    assert main(["eval", str(broken)]) == 2
    assert "truncated or corrupt" in one_error_line(capsys, "eval")


def test_a_bad_architecture_string_points_at_the_word(capsys):
    assert main(["summary", "conv3-8 pol fc10"]) == 2
    assert "unknown word 'pol'" in one_error_line(capsys, "summary")


def volnet(*arguments, cwd):
    environment = {**os.environ, "PYTHONWARNINGS": "ignore"}
    return subprocess.run([sys.executable, "-m", "volnet", *arguments], capture_output=True, text=True, cwd=cwd,
                          env=environment, timeout=300)


def test_exit_codes_of_the_installed_command(tmp_path):
    done = volnet("train", "--limit", "200", "--epochs", "1", "--quiet", "--out", "run", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "test accuracy" in done.stdout and (tmp_path / "run" / "model.npz").is_file()
    bad = volnet("train", "--preset", "nope", cwd=tmp_path)
    assert bad.returncode == 2
    assert bad.stderr.startswith("volnet train: error: unknown preset 'nope'") and bad.stderr.count("\n") == 1
    assert "Traceback" not in bad.stderr
    assert volnet("train", "--epochs", "two", cwd=tmp_path).returncode == 2  # argparse's own usage error
