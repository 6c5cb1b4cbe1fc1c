# A training run's folder stands for its model wherever volnet takes one; the other files of a
# run are named, with the file to give instead.
import pytest

import volnet
from volnet.models import build_model, save_model
from volnet.run_folder import model_file
from volnet.training import load_trained_model


@pytest.fixture
def run(tmp_path):
    # a finished run's files (only their names matter to model_file)
    model = build_model("fc10", input_shape=(1, 4, 4), seed=0)
    save_model(tmp_path / "model.npz", model, class_names=list("abcdefghij"))
    for name in ("checkpoint.npz", "best.npz", "history.json"):
        (tmp_path / name).write_text("")
    return tmp_path


def test_a_run_folder_is_its_model_npz(run):
    assert model_file(run) == model_file(run / "model.npz") == run / "model.npz"
    model, metadata = volnet.load_model(run)
    assert model.loaded_from == run / "model.npz" and metadata["class_names"] == list("abcdefghij")
    assert volnet.load_model(run / "model.npz")[0].loaded_from == run / "model.npz"
    assert load_trained_model(run)[2] == list("abcdefghij")


@pytest.mark.parametrize("name, message", [
    ("history.json", "RUN/history.json is not a model file (a .npz file); give RUN/model.npz"),
    ("best.npz", "RUN/best.npz is a training checkpoint (of the best epoch), not a model; give RUN/model.npz"),
    ("checkpoint.npz", "RUN/checkpoint.npz is a training checkpoint (of the last epoch), not a model; give "
                       "RUN/model.npz"),
])
def test_the_other_files_of_a_run_name_the_model(name, message, run):
    for load in (model_file, load_trained_model):
        with pytest.raises(ValueError) as caught:
            load(run / name)
        assert str(caught.value) == message.replace("RUN", str(run))


def test_folders_without_a_model(tmp_path):
    with pytest.raises(ValueError) as caught:
        volnet.load_model(tmp_path)
    assert str(caught.value) == (f"{tmp_path} is a folder without a model.npz; give the model.npz that `volnet "
                                 "train` wrote")
    (tmp_path / "checkpoint.npz").write_text("")
    with pytest.raises(ValueError) as caught:
        volnet.load_model(tmp_path)
    assert str(caught.value) == (f"{tmp_path} holds a run that has not finished (it has checkpoint.npz but no "
                                 f"model.npz); finish it with: volnet train --resume {tmp_path}")
    with pytest.raises(FileNotFoundError, match=r"no model file at \S+missing.npz; give the model.npz that"):
        model_file(tmp_path / "missing.npz")
