"""PyTorch weights through safetensors: volnet's file loads into the twin with strict=True and gives
volnet's scores; the twin's file imported into volnet gives the twin's scores; pickles are refused."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest

from volnet.bench.mirror import to_torch
from volnet.interop import export_safetensors, import_model, import_safetensors
from volnet.interop.pytorch import load_state_dict
from volnet.interop.safetensors_file import read_safetensors, write_safetensors

torch = pytest.importorskip("torch")
safetensors_torch = pytest.importorskip("safetensors.torch")


def twin_scores(twin, x: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return twin.eval()(torch.from_numpy(x)).numpy()


def inputs(model, count: int = 4) -> np.ndarray:
    return np.random.default_rng(1).standard_normal((count, *model.input_shape), dtype=np.float32)


def fresh_twin(model, interop):
    # a twin of the same architecture but other weights, so that loading has to change them
    from volnet.models import model_from_spec, model_to_spec

    other = model_from_spec(model_to_spec(model))
    other.build(model.input_shape)
    return to_torch(interop.with_statistics(other, seed=9))


def test_volnets_file_loads_strictly_into_the_twin_and_gives_the_same_logits(any_model, interop, tmp_path):
    model, normalization, class_names = any_model
    path = tmp_path / "model.safetensors"
    export_safetensors(model, path, normalization, class_names)
    twin = fresh_twin(model, interop)
    twin.load_state_dict(safetensors_torch.load_file(str(path)), strict=True)
    x = inputs(model)
    np.testing.assert_allclose(twin_scores(twin, x), model.forward(x), atol=1e-5, rtol=0)


def test_the_file_uses_pytorchs_names_layouts_and_buffers(tmp_path):
    from volnet.models import build_model

    model = build_model("fashion")
    path = tmp_path / "fashion.safetensors"
    export_safetensors(model, path)
    tensors = safetensors_torch.load_file(str(path))
    expected = to_torch(model).state_dict()
    assert list(tensors) == list(expected)  # same keys, same order
    for key, value in expected.items():
        assert tensors[key].dtype == value.dtype and tensors[key].shape == value.shape, key
    assert tensors["1.num_batches_tracked"].dtype == torch.int64 and tensors["1.num_batches_tracked"].shape == ()
    assert tensors["12.weight"].shape == (256, 3136)  # nn.Flatten is module 11, as PyTorch users write it


def test_the_twins_file_imported_into_volnet_gives_the_twins_logits(any_spec, any_model, interop, tmp_path):
    model, *_ = any_model
    twin = fresh_twin(model, interop)
    path = tmp_path / "twin.safetensors"
    safetensors_torch.save_file(twin.state_dict(), str(path))  # PyTorch's own writer: no volnet metadata
    if any_spec == interop.RECTANGULAR:  # built in Python, without an architecture string
        back = interop.random_model(any_spec)[0]  # a fresh copy: the fixture's model is shared
        load_state_dict(back, read_safetensors(path)[0], path)
    else:
        back, metadata = import_safetensors(path, architecture=any_spec, input_shape=model.input_shape)
        assert metadata == {"normalization": None, "class_names": None}
    x = inputs(model)
    np.testing.assert_allclose(back.forward(x), twin_scores(twin, x), atol=1e-5, rtol=0)


def test_a_trained_model_goes_to_pytorch_and_back(trained, tmp_path):
    model, normalization, class_names, _ = trained
    path = tmp_path / "trained.safetensors"
    export_safetensors(model, path, normalization, class_names)
    twin = to_torch(model)
    twin.load_state_dict(safetensors_torch.load_file(str(path)), strict=True)
    x = inputs(model, 16)
    np.testing.assert_allclose(twin_scores(twin, x), model.forward(x), atol=1e-5, rtol=0)
    back, metadata = import_model(path)  # volnet's own file carries the architecture
    np.testing.assert_array_equal(back.forward(x), model.forward(x))
    assert metadata == {"normalization": normalization.to_dict(), "class_names": class_names}


# -- mismatches --------------------------------------------------------------------------------------

@pytest.fixture
def tiny_twin_file(tmp_path):
    from volnet.models import build_model

    state = to_torch(build_model("tiny", seed=0)).state_dict()
    return tmp_path / "twin.safetensors", state


def test_missing_keys_are_named(tiny_twin_file):
    path, state = tiny_twin_file
    del state["3.bias"]
    safetensors_torch.save_file(state, str(path))
    with pytest.raises(ValueError, match=rf"{path} does not hold .*: missing 3\.bias\. The twin's keys are"):
        import_safetensors(path, architecture="tiny")


def test_extra_keys_are_named(tiny_twin_file):
    path, state = tiny_twin_file
    state["head.weight"] = torch.zeros(2)
    safetensors_torch.save_file(state, str(path))
    with pytest.raises(ValueError, match=r"unexpected head\.weight"):
        import_safetensors(path, architecture="tiny")


def test_mis_shaped_tensors_are_named_with_the_layer(tiny_twin_file):
    path, state = tiny_twin_file
    state["7.weight"] = torch.zeros(64, 100)
    safetensors_torch.save_file(state, str(path))
    with pytest.raises(ValueError, match=r"tensor '7\.weight' has shape \(64, 100\) but Linear #7 \(units=64\) "
                                         r"wants \(64, 1568\) for its weight"):
        import_safetensors(path, architecture="tiny")


def test_a_foreign_file_without_an_architecture_asks_for_one(tiny_twin_file):
    path, state = tiny_twin_file
    safetensors_torch.save_file(state, str(path))
    with pytest.raises(ValueError, match=r"does not say which architecture .* --arch"):
        import_model(path)


# -- pickles ---------------------------------------------------------------------------------------

class Payload:
    # a pickle that would write a file if it were ever unpickled
    def __init__(self, target):
        self.target = target

    def __reduce__(self):
        return (open, (str(self.target), "w"))


@pytest.mark.parametrize("name", ["weights.pt", "weights.pth", "weights.bin", "weights.data"])
def test_pickled_pytorch_files_are_refused_with_the_safe_recipe_and_never_run(tmp_path, name):
    path, target = tmp_path / name, tmp_path / "pwned"
    if name.endswith(".pt"):
        torch.save({"0.weight": torch.zeros(1), "evil": Payload(target)}, str(path))  # the zip torch.save writes
    else:
        path.write_bytes(pickle.dumps(Payload(target)))
    with pytest.raises(ValueError, match=r"pickled PyTorch file.*never unpickles.*torch\.load\(.*weights_only=True\)"
                                         r".*safetensors\.torch\.save_file"):
        import_model(path)
    assert not target.exists()


def test_the_recipe_in_the_message_converts_a_real_checkpoint(tmp_path):
    # the conversion the refusal prints works, and its file imports
    from volnet.models import build_model

    model = build_model("tiny", seed=4).eval()
    pt = tmp_path / "weights.pt"
    torch.save(to_torch(model).state_dict(), str(pt))
    with pytest.raises(ValueError) as refused:
        import_model(pt)
    command = str(refused.value).split('python -c "', 1)[1].split('"', 1)[0]
    exec(command, {})
    back, _ = import_model(tmp_path / "weights.safetensors", architecture="tiny")
    x = inputs(model)
    np.testing.assert_allclose(back.forward(x), model.forward(x), atol=1e-6)


def test_the_metadata_describes_the_model_for_volnet(tmp_path):
    from volnet.models import build_model

    model = build_model("resnet-small")
    export_safetensors(model, tmp_path / "m.safetensors", class_names=list("abcdefghij"))
    _, metadata = read_safetensors(tmp_path / "m.safetensors")
    assert metadata["format"] == "volnet" and json.loads(metadata["input_shape"]) == [3, 32, 32]
    assert json.loads(metadata["class_names"]) == list("abcdefghij")
    write_safetensors(tmp_path / "m.safetensors", {"x": np.zeros(1)}, {**metadata, "architecture": "[1, 2"})
    with pytest.raises(ValueError, match=r"metadata entry 'architecture' is not JSON"):
        import_model(tmp_path / "m.safetensors")


def test_class_names_and_normalisation_that_do_not_fit_are_refused(tmp_path):
    from volnet.models import build_model

    model = build_model("tiny")
    path = tmp_path / "m.safetensors"
    export_safetensors(model, path, class_names=["only", "three", "names"])
    with pytest.raises(ValueError, match=r"class names .* are not 10 strings"):
        import_model(path)
    tensors, metadata = read_safetensors(path)
    write_safetensors(path, tensors, {**metadata, "class_names": "null",
                                      "normalization": json.dumps({"mean": [0.1, 0.2], "std": [1, 1]})})
    with pytest.raises(ValueError, match=r"its normalisation .* does not fit: a Normalization of 2 channel"):
        import_model(path)


def test_a_sequential_inside_a_sequential_stays_one_module(tmp_path):
    from volnet.layers import Conv2D, GlobalAvgPool2D, Linear, ReLU, Sequential

    model = Sequential(Sequential(Conv2D(4, 3, pad=1), ReLU()), GlobalAvgPool2D(), Linear(3), input_shape=(2, 6, 6))
    twin = to_torch(model.eval())  # loads torch_state_dict(model) with strict=True
    assert list(twin.state_dict()) == ["0.0.weight", "0.0.bias", "3.weight", "3.bias"]
    x = inputs(model)
    np.testing.assert_allclose(twin_scores(twin, x), model.forward(x), atol=1e-5)


def test_an_architecture_in_the_metadata_over_the_memory_budget_is_refused_before_it_is_built(tmp_path):
    # the same check load_model makes (volnet.models.serialize.rebuild): a few bytes cannot ask for 11,000 GiB
    from volnet.interop.pytorch import import_safetensors
    from volnet.interop.safetensors_file import write_safetensors
    from volnet.limits import BudgetError
    from volnet.models import build_model, model_to_spec

    spec = model_to_spec(build_model("fc10", (1, 28, 28)))
    spec["layers"][-1]["config"]["units"] = 10**9
    path = tmp_path / "huge.safetensors"
    write_safetensors(path, {"1.weight": np.zeros((1, 1), np.float32)},
                      {"format": "volnet", "architecture": json.dumps(spec), "input_shape": json.dumps([1, 28, 28])})
    with pytest.raises(BudgetError, match=r"huge.safetensors: its architecture .* GiB"):
        import_safetensors(path)
