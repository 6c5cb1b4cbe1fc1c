"""The volnet command as a whole (volnet.cli.main): every subcommand's --help; a user error of any
command is one line and exit status 2, never a traceback; the installed command's exit codes;
a closed pipe ends it quietly."""

import os
import subprocess
import sys

import pytest

from volnet.cli.main import main

from tests.cli.conftest import one_error_line

COMMANDS = ("train", "eval", "predict", "summary", "gradcheck")


@pytest.mark.parametrize("command", COMMANDS)
def test_help(command, capsys):
    with pytest.raises(SystemExit) as done:
        main([command, "--help"])
    assert done.value.code == 0
    assert f"usage: volnet {command}" in capsys.readouterr().out


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
