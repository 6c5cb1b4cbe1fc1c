import json
import os
import re

import numpy as np
import pytest

from volnet.layers import (BatchNorm, Conv2D, Dropout, GlobalAvgPool2D, Layer, Linear, ReLU, Residual, Sequential,
                           Tanh)
from volnet.models import build_model, load_model, model_from_spec, model_to_spec, save_model
from volnet.npz import write_npz_atomic
from volnet.training import Checkpoint, load_checkpoint, save_checkpoint


def trained_a_little(model, seed=0):
    # one training-mode forward moves batch norm's running statistics off their start values
    rng = np.random.default_rng(seed)
    model.forward(rng.standard_normal((4, *model.input_shape)).astype(model.dtype))
    return model.eval()


def python_built_model():
    body = [Conv2D(6, 3, pad=1), BatchNorm(), ReLU(), Conv2D(6, (3, 1), pad=(1, 0), bias=False)]
    layers = [Conv2D(4, 3, pad="same"), Tanh(), Residual(body, projection=Conv2D(6, 1)), GlobalAvgPool2D(),
              Dropout(0.2, seed=5), Linear(3)]
    return Sequential(layers, input_shape=(2, 5, 5), seed=7, dtype=np.float64)


@pytest.mark.parametrize("make", [lambda: build_model("fashion"), lambda: build_model("resnet-small"),
                                  python_built_model], ids=["fashion", "resnet-small", "python-built"])
def test_round_trip_is_exact(tmp_path, make):
    model = trained_a_little(make())
    x = np.random.default_rng(1).standard_normal((3, *model.input_shape)).astype(model.dtype)
    path = tmp_path / "model.npz"
    save_model(path, model, metadata={"mean": np.float32(0.25), "std": np.array([0.5]), "epochs": 3},
               class_names=["a", "b", "c"] + list("defghij")[:model.output_shape(model.input_shape)[0] - 3])
    loaded, metadata = load_model(path)
    assert not loaded.training
    assert loaded.dtype == model.dtype and loaded.input_shape == model.input_shape
    assert model_to_spec(loaded) == model_to_spec(model)
    state, loaded_state = model.state(), loaded.state()
    assert list(loaded_state) == list(state)
    assert all(np.array_equal(state[name], loaded_state[name]) and state[name].dtype == loaded_state[name].dtype
               for name in state)
    assert np.array_equal(loaded.forward(x), model.forward(x))
    assert metadata["mean"] == 0.25 and metadata["std"] == [0.5] and metadata["epochs"] == 3
    assert metadata["class_names"][:3] == ["a", "b", "c"]


def test_loaded_model_trains_on(tmp_path):
    model = python_built_model()
    save_model(tmp_path / "m.npz", model)
    loaded, metadata = load_model(tmp_path / "m.npz")
    assert metadata == {"class_names": None}
    loaded.train()
    out = loaded.forward(np.ones((2, 2, 5, 5)))
    loaded.backward(np.ones_like(out))
    assert all(np.any(grad) for name, grad in loaded.grads.items() if "weight" in name)


def test_spec_is_plain_json_and_rebuilds():
    model = python_built_model()
    spec = model_to_spec(model)
    assert json.loads(json.dumps(spec)) == spec
    assert spec["layers"][2]["type"] == "Residual"
    assert spec["layers"][2]["projection"]["config"]["filters"] == 6
    assert spec["layers"][4]["config"] == {"rate": 0.2, "seed": 5}
    rebuilt = model_from_spec(spec)
    rebuilt.build((2, 5, 5))
    assert model_to_spec(rebuilt) == spec
    shapes = {name: array.shape for name, array in model.state().items()}
    assert {name: array.shape for name, array in rebuilt.state().items()} == shapes


def test_file_is_a_plain_npz(tmp_path):
    model = build_model("tiny")
    save_model(tmp_path / "tiny.npz", model, class_names=[str(i) for i in range(10)])
    with np.load(tmp_path / "tiny.npz", allow_pickle=False) as data:
        assert np.array_equal(data["0.weight"], model.state()["0.weight"])
        document = json.loads(data["__volnet__.json"].tobytes().decode("utf-8"))
    assert document["format"] == "volnet" and document["version"] == 1 and document["kind"] == "model"
    assert len(document["sha256"]) == 64
    assert document["meta"]["input_shape"] == [1, 28, 28] and document["meta"]["dtype"] == "float32"
    assert document["meta"]["architecture"]["layers"][0] == {
        "type": "Conv2D", "config": {"filters": 16, "size": 3, "stride": 1, "pad": "same", "bias": True,
                                     "dilation": 1, "groups": 1, "in_depth": 1}}


@pytest.fixture
def saved(tmp_path):
    path = tmp_path / "model.npz"
    save_model(path, trained_a_little(build_model("conv3-4 bn relu pool fc3", input_shape=(1, 6, 6))))
    return path


@pytest.mark.parametrize("keep", [lambda n: 0, lambda n: 10, lambda n: n // 2, lambda n: n - 1],
                         ids=["empty", "10 bytes", "half", "all but the last byte"])
def test_truncated_files_are_refused(saved, keep):
    content = saved.read_bytes()
    saved.write_bytes(content[:keep(len(content))])
    with pytest.raises(ValueError, match=r"model.npz is truncated or corrupt"):
        load_model(saved)


def test_every_flipped_byte_is_caught_or_harmless(saved):
    # a changed byte either makes loading fail with a clear ValueError or leaves the model
    # identical (zip header fields such as timestamps are not checked)
    original = saved.read_bytes()
    reference = load_model(saved)[0].state()
    damaged_file = saved.with_name("damaged.npz")
    caught = 0
    for position in np.random.default_rng(0).choice(len(original), size=60, replace=False):
        content = bytearray(original)
        content[position] ^= 0x5A
        damaged_file.write_bytes(bytes(content))
        try:
            state = load_model(damaged_file)[0].state()
        except ValueError as error:
            assert "truncated or corrupt" in str(error) or "not a volnet file" in str(error), str(error)
            caught += 1
            continue
        assert all(np.array_equal(state[name], reference[name]) for name in reference), position
    assert caught > 30


def test_damaged_array_data_is_caught_by_the_checksums(saved):
    content = bytearray(saved.read_bytes())
    weights = load_model(saved)[0].state()["0.weight"].tobytes()
    content[content.find(weights) + 17] ^= 1  # one bit of the weights themselves
    saved.write_bytes(bytes(content))
    with pytest.raises(ValueError, match=r"truncated or corrupt \(entry '0.weight.npy' fails its CRC check\)"):
        load_model(saved)


def rewrite(path, change):
    # rewrite the file's entries with change(arrays, document) applied, bypassing the checksum
    with np.load(path, allow_pickle=False) as data:
        arrays = {name: data[name] for name in data.files}
    document = json.loads(arrays.pop("__volnet__.json").tobytes().decode("utf-8"))
    text = change(arrays, document)
    arrays["__volnet__.json"] = np.frombuffer(text.encode() if text else json.dumps(document).encode(), np.uint8)
    np.savez(path, **arrays)


def test_wrong_json_is_refused(saved):
    rewrite(saved, lambda arrays, document: '{"format": "volnet", "version": 1, ')
    with pytest.raises(ValueError, match=r"truncated or corrupt \(its __volnet__.json entry is not valid"):
        load_model(saved)


def test_edited_contents_fail_the_sha256(saved):
    def edit(arrays, document):
        document["meta"]["input_shape"] = [1, 8, 8]
    rewrite(saved, edit)
    with pytest.raises(ValueError, match=r"truncated or corrupt \(its SHA-256 does not match its contents\)"):
        load_model(saved)


def test_changed_array_fails_the_sha256(saved):
    def edit(arrays, document):
        arrays["0.bias"] = arrays["0.bias"] + 1
    rewrite(saved, edit)
    with pytest.raises(ValueError, match=r"SHA-256 does not match"):
        load_model(saved)


def test_unknown_layer_type_is_refused(tmp_path):
    path = tmp_path / "odd.npz"
    meta = {"architecture": {"type": "Sequential", "layers": [{"type": "Conv3D", "config": {}}]},
            "input_shape": [1, 4, 4], "dtype": "float32", "class_names": None, "metadata": {}}
    write_npz_atomic(path, {}, meta, kind="model")
    with pytest.raises(ValueError, match=r"cannot be rebuilt \(the file is damaged or from another version of "
                                         r"volnet\): unknown layer type 'Conv3D'; volnet knows AvgPool2D"):
        load_model(path)


def test_pickled_object_arrays_are_refused(saved):
    # a hostile file: a legitimate model plus an object array, which np.load could only unpickle
    with np.load(saved, allow_pickle=False) as data:
        arrays = {name: data[name] for name in data.files}
    np.savez(saved, payload=np.array([{"run": "code"}], dtype=object), **arrays)
    with pytest.raises(ValueError, match=r"entry 'payload' holds Python objects \(a pickled object array\)\. "
                                         r"volnet refuses to unpickle"):
        load_model(saved)


def test_other_files_are_refused(tmp_path, saved):
    plain = tmp_path / "plain.npz"
    np.savez(plain, weights=np.ones(3))
    with pytest.raises(ValueError, match=r"plain.npz is not a volnet file: it has no __volnet__.json entry"):
        load_model(plain)
    text = tmp_path / "notes.npz"
    text.write_text("not a zip at all")
    with pytest.raises(ValueError, match=r"notes.npz is truncated or corrupt"):
        load_model(text)
    with pytest.raises(FileNotFoundError):
        load_model(tmp_path / "missing.npz")
    checkpoint = tmp_path / "checkpoint.npz"
    write_npz_atomic(checkpoint, {"a": np.ones(2)}, {"step": 3}, kind="checkpoint")
    with pytest.raises(ValueError, match=r"checkpoint.npz holds a checkpoint, not a model"):
        load_model(checkpoint)


def test_newer_format_versions_are_refused(saved):
    def edit(arrays, document):
        document["version"] = 2
    rewrite(saved, edit)
    with pytest.raises(ValueError, match=r"format version 2; this volnet reads versions up to 1"):
        load_model(saved)


def test_save_errors(tmp_path):
    with pytest.raises(ValueError, match=r"is not built, so it has no weights to save"):
        save_model(tmp_path / "m.npz", Sequential([Linear(3)]))

    class Custom(Layer):
        pass

    with pytest.raises(TypeError, match=r"Custom #2 cannot be saved: only registered layer types"):
        save_model(tmp_path / "m.npz", Sequential([ReLU(), Custom()], input_shape=(3,)))


@pytest.mark.parametrize("umask", [0o022, 0o077])
def test_saved_files_get_the_mode_open_would_give(tmp_path, umask):
    # written through a temporary file (mode 0600) and renamed, yet readable as the umask allows
    previous = os.umask(umask)
    try:
        save_model(tmp_path / "model.npz", build_model("conv3-4 relu fc2", (1, 6, 6), seed=0))
    finally:
        os.umask(previous)
    assert (tmp_path / "model.npz").stat().st_mode & 0o777 == 0o666 & ~umask


# save_model's misuses get messages that say what to do: arguments swapped (torch.save's order), a
# folder that does not exist yet (created, as every output of volnet is), a folder that cannot be
# made (named, never the internal temporary file)

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
