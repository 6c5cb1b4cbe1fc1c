from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from volnet.cli.main import main
from volnet.data import Normalization
from volnet.models import build_model, save_model


def run(capsys, *argv):
    code = main(["show", *argv])
    captured = capsys.readouterr()
    return code, [Path(line) for line in captured.out.split()], captured.err


@pytest.fixture
def saved_model(tmp_path):
    model = build_model("conv3-4 relu pool conv3-6 relu pool fc10", input_shape=(1, 28, 28), seed=0)
    path = tmp_path / "model.npz"
    save_model(path, model, {"normalization": Normalization((0.3,), (0.35,)).to_dict()}, class_names=list("abcdefghij"))
    return path


def test_conv_pool_and_backprop_write_their_files(tmp_path, capsys):
    out = tmp_path / "pictures"
    code, paths, _ = run(capsys, "conv", "--width", "3", "--height", "3", "--depth", "1", "--filters", "1",
                         "--size", "2", "--stride", "1", "--pad", "0", "--out", str(out))
    assert code == 0 and [p.name for p in paths] == ["conv.gif", "conv.html"]
    with Image.open(paths[0]) as gif:
        assert gif.n_frames == 4
    code, paths, _ = run(capsys, "pool", "--mode", "avg", "--out", str(out))
    assert code == 0 and [p.name for p in paths] == ["pool.png", "pool.gif", "pool.html"]
    code, paths, _ = run(capsys, "backprop", "--out", str(out))
    assert code == 0 and paths == [out / "backprop.png"] and paths[0].is_file()


def test_conv_on_a_picture(tmp_path, capsys):
    Image.fromarray(np.linspace(0, 255, 64 * 64).reshape(64, 64).astype(np.uint8)).save(tmp_path / "ramp.png")
    code, paths, _ = run(capsys, "conv", "--image", str(tmp_path / "ramp.png"), "--width", "3", "--height", "3",
                         "--size", "2", "--filters", "1", "--stride", "1", "--pad", "0", "--out", str(tmp_path))
    assert code == 0
    with Image.open(paths[0]) as gif:
        assert gif.n_frames == 4  # (3 − 2 + 0)/1 + 1 = 2, squared, one filter


def test_hyperparameters_that_do_not_fit_exit_2_with_the_libraries_message(tmp_path, capsys):
    code, paths, error = run(capsys, "conv", "--stride", "3", "--out", str(tmp_path))
    assert code == 2 and not paths
    assert "Conv2D (filters=2, stride=3, pad=1) does not fit its 5×5×3 input" in error
    code, _, error = run(capsys, "pool", "--size", "2", "--out", str(tmp_path))
    assert code == 2 and "MaxPool2D (stride=2) does not fit" in error
    code, _, error = run(capsys, "conv", "--image", "missing.png", "--out", str(tmp_path))
    assert code == 2 and "no image at missing.png" in error


def test_kernels_and_model(tmp_path, capsys):
    code, paths, _ = run(capsys, "kernels", "--index", "3", "--out", str(tmp_path))
    assert code == 0 and paths == [tmp_path / "kernels.png"]
    code, paths, _ = run(capsys, "model", "[conv3-8 relu]*2 pool fc10", "--input-shape", "3,32,32",
                         "--out", str(tmp_path))
    assert code == 0 and paths == [tmp_path / "model.png"]
    # an architecture string without --input-shape gets 1,28,28, as in `volnet summary`
    code, paths, _ = run(capsys, "model", "conv3-8 fc10", "--out", str(tmp_path))
    assert code == 0 and paths == [tmp_path / "model.png"]


def test_filters_and_activations_of_a_saved_model(saved_model, tmp_path, capsys):
    code, paths, _ = run(capsys, "model", str(saved_model), "--out", str(tmp_path))
    assert code == 0 and paths[0].is_file()
    # layers are numbered as the summary numbers them: the second conv layer is layer 4
    code, paths, _ = run(capsys, "filters", str(saved_model), "--layer", "4", "--out", str(tmp_path))
    assert code == 0 and paths == [tmp_path / "filters-layer4.png"]
    code, paths, _ = run(capsys, "activations", str(saved_model), "--index", "5", "--out", str(tmp_path))
    assert code == 0 and [p.name for p in paths] == [f"activations-0{k}.png" for k in range(1, 5)]
    code, _, error = run(capsys, "filters", str(saved_model), "--layer", "2", "--out", str(tmp_path))
    assert code == 2 and "the model has no conv layer 2; its conv layers, numbered as `volnet summary` numbers " \
                         "them, are: 1, 4" in error
    code, _, error = run(capsys, "activations", str(tmp_path / "none.npz"), "--out", str(tmp_path))
    assert code == 2 and "no model file" in error
