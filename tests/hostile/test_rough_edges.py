# Class 3 of issue 18: leftovers and rough edges a newcomer hits — stale temporary files,
# a preset on the wrong images, overwriting a run, argparse's own errors, Ctrl-C, resuming a
# finished run, eval --tta's pictures, --top-k, inverted photos, and the Python API.

import os

import numpy as np
import pytest
from PIL import Image

import volnet
from volnet.cli.main import main
from volnet.files import remove_stale_temporaries
from volnet.models import build_model, save_model


def one_line_error(capsys, *arguments, code=2) -> str:
    with pytest.raises(SystemExit) as caught:
        main(list(arguments))
    assert caught.value.code == code
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "usage:" not in err and "Traceback" not in err, err
    return err


def test_stale_temporaries_of_killed_writes_are_removed_and_live_ones_kept(tmp_path):
    path = tmp_path / "model.npz"
    dead = tmp_path / ".model.npz.999999999.abc123.tmp"  # no process has this id
    live = tmp_path / f".model.npz.{os.getpid()}.def456.tmp"  # a write going on in this process
    other = tmp_path / ".other.npz.999999999.abc123.tmp"  # another file's
    for file in (dead, live, other):
        file.write_bytes(b"half a file")
    save_model(path, build_model("fc2", input_shape=(3,)))
    assert not dead.exists() and live.exists() and other.exists()
    assert remove_stale_temporaries(tmp_path / "other.npz") == [str(other)]


def test_resume_removes_the_stale_temporaries_of_its_checkpoint(run_folder, tmp_path, capsys):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(run_folder, copy)
    stale = copy / ".checkpoint.npz.999999999.x.tmp"
    stale.write_bytes(b"")
    assert main(["train", "--resume", str(copy), "--quiet"]) == 0
    assert not stale.exists()
    out = capsys.readouterr().out
    # one message, once: a finished run is only evaluated again; best.npz is among the files written
    assert out.count("holds a finished run (2 of 2 epochs): nothing is left to train") == 1
    assert f"best {copy / 'best.npz'}" in out.splitlines()[-1]


def test_a_preset_on_other_images_says_what_it_is_made_for():
    with pytest.raises(ValueError, match=r"The cifar10 preset is made for 32×32×3 images, and these are 28×28×1: use "
                                         r"it on 32×32×3 images \(e.g. volnet train --dataset cifar10\), or choose a "
                                         r"preset made for 28×28×1: tiny, fashion"):
        build_model("cifar10", input_shape=(1, 28, 28))


def test_out_refuses_to_replace_a_run_unless_asked(run_folder, capsys):
    assert main(["train", "--arch", "fc10", "--limit", "64", "--epochs", "1", "--out", str(run_folder)]) == 2
    assert (f"--out {run_folder} already holds a finished run (model.npz and checkpoint.npz); give another folder, "
            f"continue it with --resume {run_folder}, or add --overwrite to replace it") in capsys.readouterr().err
    assert main(["train", "--resume", str(run_folder), "--overwrite"]) == 2
    assert "--overwrite has no effect with --resume" in capsys.readouterr().err


@pytest.mark.parametrize("arguments, message", [
    (["train", "--epochs", "x"], "volnet train: error: argument --epochs: invalid int value: 'x'"),
    (["train", "--bogus"], "volnet train: error: unrecognized arguments: --bogus"),
    (["trian"], "volnet: error: argument COMMAND: invalid choice: 'trian' (choose from"),
    (["trian"], "; did you mean 'train'?"),
    (["train", "--optimizer", "adma"], "did you mean 'adam'?"),
    (["summary", "--input-shape"], "volnet summary: error: argument --input-shape: expected one argument"),
])
def test_argparse_errors_are_one_line(capsys, arguments, message):
    assert message in one_line_error(capsys, *arguments)


def test_volnet_alone_lists_the_commands_and_summary_alone_the_presets(capsys):
    assert main([]) == 0
    out = capsys.readouterr().out
    assert all(command in out for command in ("train", "eval", "predict", "summary", "show", "bench", "gradcheck"))
    assert main(["summary"]) == 0
    out = capsys.readouterr().out
    assert all(f"  {name} " in out for name in volnet.models.PRESETS)


def test_ctrl_c_before_the_first_checkpoint_says_nothing_was_saved(tmp_path, monkeypatch, capsys):
    import volnet.training.run

    def interrupted(*arguments, **options):
        raise KeyboardInterrupt

    monkeypatch.setattr(volnet.training.run, "train", interrupted)
    assert main(["train", "--out", str(tmp_path / "new")]) == 130
    assert (f"interrupted before the first epoch ended: nothing was saved in {tmp_path / 'new'}, so there is nothing "
            f"to resume") in capsys.readouterr().err


def test_eval_tta_pictures_stand_beside_the_plain_ones(run_folder, tmp_path):
    assert main(["eval", str(run_folder), "--out", str(tmp_path)]) == 0
    plain = (tmp_path / "confusion.png").read_bytes()
    assert main(["eval", str(run_folder), "--out", str(tmp_path), "--tta"]) == 0
    assert (tmp_path / "confusion-tta.png").is_file() and (tmp_path / "misclassified-tta.png").is_file()
    assert (tmp_path / "confusion.png").read_bytes() == plain


def test_top_k_beyond_the_classes_is_said(run_folder, capsys):
    assert main(["predict", str(run_folder), "--index", "0", "--top-k", "11"]) == 2
    assert f"--top-k 11 is more than the 10 classes of {run_folder}; give at most --top-k 10" in capsys.readouterr().err
    assert main(["predict", str(run_folder), "--index", "0", "--top-k", "10"]) == 0


def test_a_photo_unlike_the_training_images_is_warned_about_and_can_be_inverted(run_folder, tmp_path, capsys):
    pixels = np.full((28, 28), 240, np.uint8)
    pixels[8:20, 6:22] = 30  # a dark object on a light background: Fashion-MNIST is the other way round
    Image.fromarray(pixels).save(tmp_path / "photo.png")
    Image.fromarray(255 - pixels).save(tmp_path / "like.png")
    assert main(["predict", str(run_folder), str(tmp_path / "photo.png"), str(tmp_path / "like.png")]) == 0
    err = capsys.readouterr().err
    assert f"{tmp_path / 'photo.png'} has a mean brightness of 0.7" in err and "if so, add --invert" in err
    assert "like.png" not in err
    assert main(["predict", str(run_folder), str(tmp_path / "photo.png"), "--invert"]) == 0
    inverted = capsys.readouterr()
    assert inverted.err == ""
    assert main(["predict", str(run_folder), str(tmp_path / "like.png")]) == 0
    assert capsys.readouterr().out.split(":", 1)[1] == inverted.out.split(":", 1)[1]  # the same pixels, same answer


def test_the_python_api_takes_what_the_cli_takes(tmp_path):
    model = build_model("conv3-4 relu pool fc3", input_shape=(1, 6, 6))
    save_model(tmp_path / "m.npz", model, {"note": "x"}, class_names=["a", "b", "c"])
    loaded, metadata = volnet.load_model(tmp_path / "m.npz")
    assert loaded.metadata == metadata == {"note": "x", "class_names": ["a", "b", "c"]}
    assert volnet.summary("tiny") == volnet.summary(build_model("tiny"))


@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 32, 32), (3, 8, 6)])
def test_channel_last_input_gets_a_hint(shape):
    model = build_model("conv3-4 relu pool fc2", input_shape=shape)
    depth, height, width = shape
    with pytest.raises(ValueError, match=rf"takes batches \(N, D, H, W\) = \(N, {depth}, {height}, {width}\); got "
                                         rf"\(2, {height}, {width}, {depth}\), which is channel-last \(N, H, W, D\)\. "
                                         rf"volnet wants the depth first: pass x.transpose\(0, 3, 1, 2\)"):
        model.forward(np.zeros((2, height, width, depth), np.float32))
