"""save_model's misuses get messages that say what to do: arguments swapped (torch.save's
order), a folder that does not exist yet (created, as every output of volnet is), a folder
that cannot be made (named, never the internal temporary file)."""

import re

import numpy as np
import pytest

from volnet.models import build_model, load_model, save_model
from volnet.training import Checkpoint, load_checkpoint, save_checkpoint


@pytest.fixture
def model():
    return build_model("fc3", (4,), seed=0)


def test_the_model_first_is_refused_with_the_right_order(model, tmp_path):
    path = tmp_path / "m.npz"
    with pytest.raises(TypeError, match=r"^save_model takes the file path first and the model second: "
                                        r"save_model\(path, model\); got a Sequential as path and .*m\.npz.* as "
                                        r"model\. Swap them\.$"):
        save_model(model, path)
    assert not path.exists()


def test_path_and_model_must_be_what_they_are(model, tmp_path):
    with pytest.raises(TypeError, match=r"^save_model\(path, model\): path must be a file name \(str or "
                                        r"pathlib\.Path\), got int$"):
        save_model(3, model)
    with pytest.raises(TypeError, match=r"^save_model\(path, model\): model must be a volnet model or layer "
                                        r"\(e\.g\. a Sequential\), got dict$"):
        save_model(tmp_path / "m.npz", model.state())


def test_missing_folders_are_created(model, tmp_path):
    path = tmp_path / "runs" / "first" / "m.npz"
    save_model(path, model)
    loaded, _ = load_model(path)
    np.testing.assert_array_equal(loaded.state()["0.weight"], model.state()["0.weight"])
    save_checkpoint(tmp_path / "other" / "checkpoint.npz", Checkpoint({}, {}, {}, 0, 0, [], {}, {}))
    assert load_checkpoint(tmp_path / "other" / "checkpoint.npz").epoch == 0


def test_a_folder_that_cannot_be_made_is_named(model, tmp_path):
    (tmp_path / "taken").write_text("a file where the folder should be")
    folder = re.escape(str(tmp_path / "taken"))
    with pytest.raises(OSError, match=rf"^cannot write the model {folder}/m\.npz: the folder {folder} cannot be "
                                      rf"created or written to \(.+\)$") as caught:
        save_model(tmp_path / "taken" / "m.npz", model)
    assert ".tmp" not in str(caught.value) and caught.value.errno is not None
