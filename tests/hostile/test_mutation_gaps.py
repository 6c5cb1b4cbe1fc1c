# Class 4 of issue 18: the tests a mutation run showed missing (small plausible bugs in ops,
# optim, layers, serialize and checkpoint went unnoticed), and their siblings: the same kind of
# gap one step over.

import io
import os
import stat
import zipfile

import numpy as np
import pytest
import torch

import volnet.files
from volnet import Conv2D, LeakyReLU, ReLU, SoftmaxCrossEntropy, SVMLoss
from volnet.data import Dataset
from volnet.models import build_model, load_model, save_model
from volnet.ops.conv import conv2d_forward, conv2d_forward_reference
from volnet.optim import make_optimizer, make_schedule
from volnet.gradients.numerical import check_layer_gradients
from volnet.training import Trainer
from volnet.training.checkpoint import model_generators


@pytest.mark.parametrize("dilation", [(1, 2), (2, 1), (3, 2)])
@pytest.mark.parametrize("stride", [1, (1, 2), (2, 1)])
def test_convolution_with_other_dilation_along_height_and_width(dilation, stride):
    # fast = reference = PyTorch in float64 (only the summation order differs: 1e-10), and gradients check
    rng = np.random.default_rng(0)
    x, w, b = rng.standard_normal((2, 3, 11, 13)), rng.standard_normal((4, 3, 3, 3)), rng.standard_normal(4)
    fast, _ = conv2d_forward(x, w, b, stride=stride, pad=2, dilation=dilation)
    reference, _ = conv2d_forward_reference(x, w, b, stride=stride, pad=2, dilation=dilation)
    expected = torch.nn.functional.conv2d(torch.from_numpy(x), torch.from_numpy(w), torch.from_numpy(b),
                                          stride=stride, padding=2, dilation=dilation).numpy()
    np.testing.assert_allclose(fast, expected, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(reference, expected, rtol=1e-10, atol=1e-10)
    conv = Conv2D(2, 3, stride=stride, pad=2, dilation=dilation)  # the gradients, on a smaller volume
    conv.build((2, 7, 9), dtype=np.float64, rng=rng)
    assert max(check_layer_gradients(conv, rng.standard_normal((1, 2, 7, 9))).values()) < 1e-7


@pytest.mark.parametrize("layer, torch_function", [
    (ReLU(), torch.relu), (LeakyReLU(0.1), lambda t: torch.nn.functional.leaky_relu(t, 0.1)),
])
def test_activations_exactly_at_their_kink_match_pytorch(layer, torch_function):
    # x = 0 exactly, and its neighbours: the subgradient PyTorch picks (ReLU: 0; LeakyReLU: the slope)
    x = np.array([[-1e-300, 0.0, -0.0, 1e-300, -2.0, 3.0]])
    tensor = torch.tensor(x, requires_grad=True)
    torch_function(tensor).backward(torch.ones_like(tensor))
    out = layer.forward(x)
    np.testing.assert_array_equal(out, torch_function(torch.tensor(x)).detach().numpy())
    np.testing.assert_array_equal(layer.backward(np.ones_like(out)), tensor.grad.numpy())


@pytest.mark.parametrize("loss", [SoftmaxCrossEntropy(), SoftmaxCrossEntropy(0.1), SVMLoss()])
@pytest.mark.parametrize("bad", [3, 4, -1])
def test_a_label_equal_to_the_class_count_or_negative_is_refused(loss, bad):
    scores = np.zeros((2, 3))
    with pytest.raises(ValueError, match=r"labels must be in \[0, 3\) for 3 classes"):
        loss(scores, np.array([0, bad]))
    loss(scores, np.array([0, 2]))  # the largest valid label is fine


def test_a_dataset_label_equal_to_the_class_count_is_refused():
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 2\) for 2 class names, got labels from 0 to 2"):
        Dataset(np.zeros((2, 1, 2, 2), np.uint8), [0, 2], ["a", "b"])


@pytest.mark.parametrize("total, size", [(9, 3), (10, 4), (11, 4), (2, 1), (1, 1)])
def test_the_step_schedule_drops_twice_by_default_whatever_the_step_count(total, size):
    # step_size = ⌈T/3⌉, so the drops come at ⌈T/3⌉ and 2⌈T/3⌉ (and never a third drop within the run)
    schedule = make_schedule("step", 1.0, total)
    rates = [schedule(step) for step in range(total)]
    assert rates == [0.1 ** (step // size) for step in range(total)]
    assert min(rates) >= 0.01 - 1e-15


@pytest.mark.parametrize("model_dtype", [np.float32, np.float64])
@pytest.mark.parametrize("input_dtype", [np.float32, np.float64])
def test_a_model_computes_in_its_own_dtype_whatever_the_input(model_dtype, input_dtype):
    model = build_model("conv3-2 bn relu pool fc3", input_shape=(1, 4, 4), dtype=model_dtype)
    out = model.forward(np.ones((2, 1, 4, 4), input_dtype))
    assert out.dtype == model_dtype
    model.backward(np.ones_like(out))
    assert all(grad.dtype == model_dtype for grad in model.grads.values())


def test_to_float64_casts_gradients_too_and_they_keep_accumulating():
    model = build_model("conv3-2 bn relu fc3", input_shape=(1, 4, 4)).to(np.float64)
    assert all(p.data.dtype == np.float64 and p.grad.dtype == np.float64 for p in model.parameters().values())
    assert all(value.dtype == np.float64 for value in model.state().values())  # running statistics too
    out = model.forward(np.ones((2, 1, 4, 4)))
    model.backward(np.ones_like(out))
    assert all(grad.dtype == np.float64 and np.any(grad) for grad in model.grads.values())


def test_load_state_leaves_the_two_models_independent():
    source = build_model("conv3-2 bn relu fc3", input_shape=(1, 4, 4), seed=1)
    target = build_model("conv3-2 bn relu fc3", input_shape=(1, 4, 4), seed=2)
    target.load_state(source.state())
    for (name, mine), theirs in zip(target.state().items(), source.state().values()):
        assert np.array_equal(mine, theirs) and not np.shares_memory(mine, theirs), name
    before = {name: value.copy() for name, value in target.state().items()}
    for value in source.state().values():
        value += 1
    assert all(np.array_equal(value, before[name]) for name, value in target.state().items())


def test_load_state_dict_of_an_optimizer_leaves_the_two_independent():
    # the sibling: an optimizer's moments taken from a checkpoint must not be the checkpoint's arrays
    model = build_model("fc3", input_shape=(2,))
    first = make_optimizer("adam", model.parameters(), lr=0.1)
    model.forward(np.ones((1, 2), np.float32))
    model.backward(np.ones((1, 3), np.float32))
    first.step()
    arrays, scalars = first.state_dict()
    second = make_optimizer("adam", model.parameters(), lr=0.1)
    second.load_state_dict(arrays, scalars)
    kept = {name: value.copy() for name, value in second.state_dict()[0].items()}
    for value in arrays.values():
        value += 1
    assert all(np.array_equal(value, kept[name]) for name, value in second.state_dict()[0].items())


def rewritten(path, entry, edit):
    # the same archive with one entry's bytes edited and its CRC made right again (the digest left alone)
    with zipfile.ZipFile(path) as archive:
        entries = {info.filename: archive.read(info) for info in archive.infolist()}
    entries[entry] = edit(entries[entry])
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        for name, content in entries.items():
            archive.writestr(name, content)
    path.write_bytes(buffer.getvalue())


@pytest.mark.parametrize("edit", [
    lambda content: content.replace(b"'<f4'", b"'<i4'", 1),  # the dtype: same bytes, other numbers
    lambda content: content.replace(b"'<f4'", b"'>f4'", 1),  # the byte order
    lambda content: content.replace(b"(3, 2)", b"(2, 3)", 1),  # the shape, same size
    lambda content: content.replace(b"False", b"True ", 1),  # fortran_order
])
def test_an_edited_array_header_with_the_old_digest_is_refused(tmp_path, edit):
    path = tmp_path / "m.npz"
    save_model(path, build_model("fc3", input_shape=(2,)))
    with zipfile.ZipFile(path) as archive:
        assert edit(archive.read("0.weight.npy")) != archive.read("0.weight.npy")
    rewritten(path, "0.weight.npy", edit)
    with pytest.raises(ValueError, match=r"is truncated or corrupt \(its SHA-256 does not match its contents\)"):
        load_model(path)


def test_atomic_writes_fsync_the_file_then_rename_then_fsync_the_folder(tmp_path, monkeypatch):
    events = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(descriptor):
        events.append("fsync folder" if stat.S_ISDIR(os.fstat(descriptor).st_mode) else "fsync file")
        real_fsync(descriptor)

    def replace(source, target):
        assert os.path.getsize(source) > 0
        events.append("rename")
        real_replace(source, target)

    monkeypatch.setattr(volnet.files.os, "fsync", fsync)
    monkeypatch.setattr(volnet.files.os, "replace", replace)
    save_model(tmp_path / "m.npz", build_model("fc3", input_shape=(2,)))
    assert events == ["fsync file", "rename", "fsync folder"]


def tiny_trainer(seed=0):
    # dropouts two blocks deep: inside a residual block inside a residual block
    model = build_model("conv3-4 res[conv3-4 relu res[conv3-4 dropout0.5 relu] dropout0.3] gap fc2",
                        input_shape=(1, 6, 6), seed=4)
    optimizer = make_optimizer("adam", model.parameters(), lr=1e-2)
    return Trainer(model, optimizer, batch_size=8, seed=seed, progress=False, log=lambda line: None)


def test_dropouts_nested_two_blocks_deep_survive_a_resume_bit_for_bit(tmp_path):
    rng = np.random.default_rng(0)
    data = Dataset(rng.integers(0, 256, (24, 1, 6, 6), dtype=np.uint8), np.arange(24) % 2, ["a", "b"])
    names = sorted(model_generators(tiny_trainer().model))
    assert names == ["1.body.2.body.1.rng", "1.body.3.rng"]  # two blocks deep, and one deep

    whole = tiny_trainer()
    whole.fit(data, epochs=2)
    first = tiny_trainer()
    first.out_dir = tmp_path
    first.fit(data, epochs=1)
    resumed = tiny_trainer()
    resumed.resume(tmp_path / "checkpoint.npz")
    for name, generator in model_generators(resumed.model).items():
        assert generator.bit_generator.state == model_generators(first.model)[name].bit_generator.state
    resumed.fit(data, epochs=2)
    for name, value in whole.model.state().items():
        np.testing.assert_array_equal(resumed.model.state()[name], value, err_msg=name)
