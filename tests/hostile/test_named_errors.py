# Class 2 of issue 18: every error names the file or setting it is about and what is wrong
# with it — OS errors while writing, damaged or foreign checkpoints, dataset files, constant
# images, empty or zero architecture settings, saved models that are no classifiers.

import errno
import gzip
import os
import pickle
import re
import shutil
import struct
import textwrap

import numpy as np
import pytest

import volnet.files
from volnet.cli.main import main
from volnet.data import Dataset, channel_stats
from volnet.data.cifar10 import load_cifar10_binary, load_cifar10_python
from volnet.data.idx import load_idx
from volnet.models import build_model, save_model
from volnet.npz import read_npz_checked, write_npz_atomic


def error_of(capsys, *arguments) -> str:
    assert main(list(arguments)) == 2
    message = capsys.readouterr().err
    assert "Traceback" not in message and message.count("error:") == 1
    return message


@pytest.mark.parametrize("code, words", [(errno.ENOSPC, "No space left on device"), (errno.EFBIG, "File too large"),
                                         (errno.EACCES, "Permission denied")])
def test_an_os_error_while_writing_names_the_file_and_keeps_the_earlier_one(tmp_path, monkeypatch, code, words):
    model = build_model("fc3", input_shape=(2,))
    path = tmp_path / "model.npz"
    save_model(path, model)
    before = path.read_bytes()

    def fails(descriptor):
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(volnet.files.os, "fsync", fails)
    with pytest.raises(OSError, match=rf"^cannot write the model {path} \({words}\); the earlier one there is "
                                      rf"intact$") as caught:
        save_model(path, model)
    assert caught.value.errno == code
    assert path.read_bytes() == before and os.listdir(tmp_path) == ["model.npz"]  # no temporary left


def test_a_file_size_limit_while_writing_a_checkpoint_is_named(capped, tmp_path):
    # a real EFBIG: the child may write files of 64 KiB at most, the second checkpoint is larger
    script = textwrap.dedent(f"""
        import resource, signal, numpy as np
        from volnet.training.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
        path = {str(tmp_path / "checkpoint.npz")!r}
        save_checkpoint(path, Checkpoint({{"w": np.zeros(10)}}, {{}}, {{}}, 1, 10, [], {{}}, {{}}))
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (65536, 65536))
        try:
            save_checkpoint(path, Checkpoint({{"w": np.zeros(100_000)}}, {{}}, {{}}, 2, 20, [], {{}}, {{}}))
        except OSError as error:
            print(error)
        print(load_checkpoint(path).epoch)
    """)
    done = capped(["-c", script], seconds=60)
    assert done.stdout.splitlines() == [f"cannot write the checkpoint {tmp_path / 'checkpoint.npz'} (File too large); "
                                        f"the earlier one there is intact", "1"], done.stderr


def tampered(run_folder, tmp_path, change):
    # a copy of the run whose checkpoint was rewritten (with a fresh digest, as an attacker would)
    copy = tmp_path / "copy"
    shutil.copytree(run_folder, copy)
    (copy / "model.npz").unlink()
    arrays, meta = read_npz_checked(copy / "checkpoint.npz")
    change(arrays, meta)
    write_npz_atomic(copy / "checkpoint.npz", arrays, meta, kind="checkpoint")
    return copy


def _unknown_setting(arrays, meta):
    meta["settings"]["config"]["colour"] = "blue"


def _generator_state(arrays, meta):
    meta["generators"]["shuffle"]["state"]["state"] = "zzz"


def _generator_kind(arrays, meta):
    meta["generators"]["shuffle"]["bit_generator"] = "MT19937"


def _weight_shape(arrays, meta):
    arrays["model/1.weight"] = np.zeros((3, 3), np.float32)


def _epoch_type(arrays, meta):
    meta["epoch"] = "five"


def _bad_setting_value(arrays, meta):
    meta["settings"]["config"]["epochs"] = 0


@pytest.mark.parametrize("change, why", [
    (_unknown_setting, r"its training configuration has settings this volnet does not know: colour"),
    (_generator_state, r"the state of the random generator 'shuffle' is not valid \("),
    (_generator_kind, r"the state of the random generator 'shuffle' is not valid \(state must be for a PCG64 RNG\)"),
    (_weight_shape, r"1.weight: saved shape \(3, 3\) does not match the layer's \(10, 784\)"),
    (_epoch_type, r"its metadata lacks or mangles epoch of the wrong type"),
    (_bad_setting_value, r"its training configuration: epochs must be at least 1, got 0"),
])
def test_a_damaged_checkpoint_is_named_and_called_damaged(run_folder, tmp_path, capsys, change, why):
    copy = tampered(run_folder, tmp_path, change)
    message = error_of(capsys, "train", "--resume", str(copy), "--quiet")
    assert message.startswith(f"volnet train: error: {copy / 'checkpoint.npz'}: this checkpoint is damaged or from "
                              f"another version of volnet (")
    assert re.search(why, message), message
    assert "it cannot be resumed" in message


def idx(*shape, values=b""):
    return bytes([0, 0, 8, len(shape)]) + struct.pack(f">{len(shape)}I", *shape) + values


def test_idx_problems_name_the_file(tmp_path):
    (tmp_path / "images").write_bytes(idx(2, 2, 2, values=bytes(8)))
    (tmp_path / "labels").write_bytes(idx(2, values=bytes([0, 12])))
    with pytest.raises(ValueError, match=rf"^{tmp_path / 'labels'}: labels run up to 12, but there are 10 classes "):
        load_idx(tmp_path / "images", tmp_path / "labels", [str(k) for k in range(10)])
    (tmp_path / "images").write_bytes(gzip.compress(idx(0, 28, 28)))
    (tmp_path / "labels").write_bytes(idx(0))
    with pytest.raises(ValueError, match=rf"^{tmp_path / 'images'}: no images \(its header says N = 0\)"):
        load_idx(tmp_path / "images", tmp_path / "labels")


@pytest.mark.parametrize("meta, why", [
    (b"\xff\xfe\x00", r"batches.meta.txt: class names are not UTF-8 text"),
    (b"\n \n", r"batches.meta.txt: no class names"),
])
def test_a_bad_binary_meta_file_is_named(tmp_path, meta, why):
    (tmp_path / "test_batch.bin").write_bytes(bytes(3073))
    (tmp_path / "batches.meta.txt").write_bytes(meta)
    with pytest.raises(ValueError, match=why):
        load_cifar10_binary(tmp_path, "test")


@pytest.mark.parametrize("names, why", [
    ({b"label_names": "cat dog"}, r"batches.meta: b'label_names' must be a non-empty list of class names"),
    ({b"label_names": []}, r"batches.meta: b'label_names' must be a non-empty list"),
    ({b"label_names": [b"\xff"]}, r"batches.meta: class names are not UTF-8 text"),
    ({b"labels": [b"a"]}, r"batches.meta: expected a dict with the key b'label_names', found the keys b'labels'"),
])
def test_a_bad_python_meta_file_is_named(tmp_path, names, why):
    batch = {b"data": np.zeros((1, 3072), np.uint8), b"labels": [0]}
    (tmp_path / "test_batch").write_bytes(pickle.dumps(batch, protocol=2))
    (tmp_path / "batches.meta").write_bytes(pickle.dumps(names, protocol=2))
    with pytest.raises(ValueError, match=why):
        load_cifar10_python(tmp_path, "test")


def test_constant_images_are_centred_and_train(tmp_path):
    from volnet.training.run import TrainingConfig, train

    images = np.full((40, 3, 4, 4), 7, np.uint8)
    images[:, 1] = np.arange(16, dtype=np.uint8).reshape(4, 4)  # one channel varies, two are constant
    stats = channel_stats(Dataset(images, np.arange(40) % 2, ["a", "b"]))
    assert stats.std[0] == stats.std[2] == 1.0 and 0 < stats.std[1] < 1
    for label, name in enumerate(("flat", "also-flat")):
        (tmp_path / "data" / name).mkdir(parents=True)
        from PIL import Image
        for k in range(4):
            Image.new("L", (4, 4), color=label * 10).save(tmp_path / "data" / name / f"{k}.png")
    result = train(TrainingConfig(dataset=str(tmp_path / "data"), architecture="fc2", epochs=1, batch_size=4,
                                  val_fraction=0), tmp_path / "out", log=lambda line: None, progress=False)
    assert np.isfinite(result.history[0]["train_loss"])


@pytest.mark.parametrize("arguments, message", [
    (["train", "--arch", ""], "--arch is empty; give an architecture string such as"),
    (["train", "--arch", "   "], "--arch is empty"),
    (["train", "--arch", "conv3-0 fc10"], "'conv3-0' at position 1: the number of filters K must be at least 1, got 0"),
    (["summary", "conv3-8/s0"], "the stride in '/s0' must be at least 1"),
])
def test_empty_and_zero_settings_are_named(capsys, arguments, message):
    assert message in error_of(capsys, *arguments)


def test_a_saved_model_without_class_scores_is_refused_with_its_output_shape(tmp_path, capsys):
    save_model(tmp_path / "features.npz", build_model("conv3-4 relu", input_shape=(1, 8, 8)))
    for command in ("eval", "predict"):
        index = ["--index", "0"] if command == "predict" else []
        message = error_of(capsys, command, str(tmp_path / "features.npz"), *index)
        assert (f"{tmp_path / 'features.npz'}: the model's output for one example has shape (4, 8, 8), not a vector "
                f"of class scores") in message
    assert main(["summary", str(tmp_path / "features.npz")]) == 0  # any saved model can be looked at
