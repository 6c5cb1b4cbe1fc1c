"""What the tests of the volnet command share: quick runs whose folders the commands take, image
folders, and the checks that an error is one line with exit status 2."""

import numpy as np
import pytest
from PIL import Image

from volnet.cli.main import main

QUICK_TRAIN = ["train", "--limit", "300", "--epochs", "1", "--quiet"]


@pytest.fixture(scope="session")
def run_dir(tmp_path_factory):
    # one quick run whose model the other commands use
    out = tmp_path_factory.mktemp("run")
    assert main([*QUICK_TRAIN, "--out", str(out), "--metrics-out", str(out / "extra.json")]) == 0
    return out


def write_folder(root, classes, images_per_class=6, size=8):
    # random RGB pictures, one sub-folder per class
    rng = np.random.default_rng(0)
    for name in classes:
        (root / name).mkdir(parents=True)
        for index in range(images_per_class):
            Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)).save(root / name / f"{index}.png")
    return root


@pytest.fixture(scope="session")
def folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("folders")
    return {"three": write_folder(root / "three", ["cat", "dog", "owl"]), "one": write_folder(root / "one", ["cat"])}


@pytest.fixture(scope="session")
def sample_run(tmp_path_factory):
    # a one-epoch run on the embedded sample whose folder the MODEL tests use
    out = tmp_path_factory.mktemp("sample-run")
    assert main(["train", "--limit", "100", "--epochs", "1", "--quiet", "--out", str(out)]) == 0
    return out


@pytest.fixture(scope="session")
def folder_run(folders, tmp_path_factory):
    out = tmp_path_factory.mktemp("folder-run")
    assert main(["train", "--dataset", str(folders["three"]), "--epochs", "1", "--quiet", "--out", str(out)]) == 0
    return out


def one_error_line(capsys, command):
    error = capsys.readouterr().err
    assert "Traceback" not in error
    assert error.startswith(f"volnet {command}: error: ")
    return error


def error_of(capsys, arguments):
    # the command's exit status must be 2 and its error exactly one line
    assert main(arguments) == 2
    captured = capsys.readouterr()
    command = " ".join(arguments[:2]) if arguments[0] == "show" else arguments[0]
    assert captured.err.startswith(f"volnet {command}: error: ") and captured.err.count("\n") == 1, captured.err
    assert "Traceback" not in captured.err
    return captured.err.removeprefix(f"volnet {command}: error: ").rstrip("\n"), captured.out


def refused_before_any_work(arguments, message, sample_run, tmp_path, monkeypatch, capsys):
    # a bad flag is named (exit 2, one line) before anything is loaded, trained or written
    monkeypatch.chdir(tmp_path)
    (tmp_path / "FILE").write_text("not a folder")
    found, out = error_of(capsys, [str(sample_run) if argument == "RUN" else argument for argument in arguments])
    assert found.startswith(message)
    assert out == ""  # nothing was evaluated or trained first
    assert sorted(path.name for path in tmp_path.iterdir()) == ["FILE"]
