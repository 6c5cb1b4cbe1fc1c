"""MODEL, as every command takes it (volnet.run_folder.model_file): a run's folder stands for its
model.npz; another file of a run, or a folder without a finished run, names the file to give."""

import pytest

from volnet.cli.main import main

from tests.cli.conftest import error_of


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
