import json

import numpy as np
import pytest

from volnet.layers import Parameter
from volnet.models import build_model
from volnet.npz import read_npz_checked, write_npz_atomic
from volnet.optim import SGD, Adam, AdamW, make_optimizer

torch = pytest.importorskip("torch")

SHAPES = {"conv.weight": (3, 2, 2, 2), "conv.bias": (3,), "fc.weight": (4, 12)}
STEPS = 6

# (our name, our options, torch class, torch options): the same hyperparameters both ways
CASES = [
    ("sgd", {"lr": 0.1}, "SGD", {"lr": 0.1}),
    ("sgd", {"lr": 0.1, "momentum": 0.9}, "SGD", {"lr": 0.1, "momentum": 0.9}),
    ("sgd", {"lr": 0.05, "momentum": 0.8, "nesterov": True, "weight_decay": 0.01},
     "SGD", {"lr": 0.05, "momentum": 0.8, "nesterov": True, "weight_decay": 0.01}),
    ("adam", {}, "Adam", {}),
    ("adam", {"lr": 0.01, "betas": (0.8, 0.99), "eps": 1e-6, "weight_decay": 0.1},
     "Adam", {"lr": 0.01, "betas": (0.8, 0.99), "eps": 1e-6, "weight_decay": 0.1}),
    ("adamw", {"lr": 0.01}, "AdamW", {"lr": 0.01}),
    ("adamw", {"lr": 0.01, "weight_decay": 0.5}, "AdamW", {"lr": 0.01, "weight_decay": 0.5}),
    ("rmsprop", {}, "RMSprop", {}),
    ("rmsprop", {"lr": 0.001, "decay": 0.9, "eps": 1e-6, "weight_decay": 0.05},
     "RMSprop", {"lr": 0.001, "alpha": 0.9, "eps": 1e-6, "weight_decay": 0.05}),
    ("adagrad", {}, "Adagrad", {}),
    ("adagrad", {"lr": 0.1, "eps": 1e-8, "weight_decay": 0.02},
     "Adagrad", {"lr": 0.1, "eps": 1e-8, "weight_decay": 0.02}),
]


def start(seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    parameters = {name: Parameter(rng.standard_normal(shape).astype(dtype)) for name, shape in SHAPES.items()}
    gradients = [{name: rng.standard_normal(shape).astype(dtype) for name, shape in SHAPES.items()}
                 for _ in range(STEPS)]
    return parameters, gradients


def run_ours(optimizer, parameters, gradients):
    for step_gradients in gradients:
        for name, p in parameters.items():
            p.grad[...] = step_gradients[name]
        optimizer.step()


def run_torch(torch_name, options, parameters, gradients, clip_norm=None):
    tensors = {name: torch.tensor(p.data.copy(), requires_grad=True) for name, p in parameters.items()}
    optimizer = getattr(torch.optim, torch_name)(list(tensors.values()), **options)
    for step_gradients in gradients:
        for name, tensor in tensors.items():
            tensor.grad = torch.tensor(step_gradients[name])
        if clip_norm is not None:
            torch.nn.utils.clip_grad_norm_(list(tensors.values()), clip_norm)
        optimizer.step()
    return {name: tensor.detach().numpy() for name, tensor in tensors.items()}


def assert_same(parameters, expected):
    # float64 throughout: the two differ only in the order of a few operations
    for name, p in parameters.items():
        np.testing.assert_allclose(p.data, expected[name], rtol=1e-10, atol=1e-12, err_msg=name)


@pytest.mark.parametrize("name, options, torch_name, torch_options", CASES)
def test_parity_with_pytorch(name, options, torch_name, torch_options):
    parameters, gradients = start()
    expected = run_torch(torch_name, torch_options, parameters, gradients)
    run_ours(make_optimizer(name, parameters, **options), parameters, gradients)
    assert_same(parameters, expected)


@pytest.mark.parametrize("name, options, torch_name, torch_options", [CASES[2], CASES[4], CASES[6]])
def test_parity_with_pytorch_with_gradient_clipping(name, options, torch_name, torch_options):
    # the gradients' global norm is about 8, so clip_norm=2 clips every step and 50 none
    for clip_norm in (2.0, 50.0):
        parameters, gradients = start(seed=1)
        expected = run_torch(torch_name, torch_options, parameters, gradients, clip_norm=clip_norm)
        optimizer = make_optimizer(name, parameters, clip_norm=clip_norm, **options)
        run_ours(optimizer, parameters, gradients)
        assert_same(parameters, expected)
        assert optimizer.grad_norm == pytest.approx(np.sqrt(sum(np.sum(g ** 2) for g in gradients[-1].values())))


@pytest.mark.parametrize("name, options", [(case[0], case[1]) for case in CASES])
def test_state_dict_round_trip_resumes_exactly(name, options):
    parameters, gradients = start(seed=2)
    uninterrupted = make_optimizer(name, parameters, **options)
    run_ours(uninterrupted, parameters, gradients)

    resumed_parameters, _ = start(seed=2)
    first = make_optimizer(name, resumed_parameters, **options)
    run_ours(first, resumed_parameters, gradients[:3])
    arrays, scalars = first.state_dict()
    scalars = json.loads(json.dumps(scalars))  # as a checkpoint stores them
    second = make_optimizer(name, resumed_parameters, **options)
    second.load_state_dict(arrays, scalars)
    run_ours(second, resumed_parameters, gradients[3:])
    for key, p in parameters.items():
        assert np.array_equal(resumed_parameters[key].data, p.data)
    assert second.steps == STEPS


def test_state_survives_a_checkpoint_file(tmp_path):
    model = build_model("conv3-2 relu fc3", input_shape=(1, 4, 4))
    optimizer = Adam(model.parameters(), lr=0.01, clip_norm=1.0)
    for p in model.parameters().values():
        p.grad[...] = 1
    optimizer.step()
    arrays, scalars = optimizer.state_dict()
    write_npz_atomic(tmp_path / "checkpoint.npz", arrays, {"optimizer": scalars}, kind="checkpoint")
    read_arrays, meta = read_npz_checked(tmp_path / "checkpoint.npz", kind="checkpoint")
    other = Adam(model.parameters())
    other.load_state_dict(read_arrays, meta["optimizer"])
    assert other.steps == 1 and other.lr == 0.01 and other.clip_norm == 1.0 and other.betas == (0.9, 0.999)
    assert sorted(read_arrays) == sorted(f"{slot}.{name}" for slot in ("m", "s") for name in model.parameters())


def test_lr_can_be_set_between_steps():
    parameters, gradients = start()
    before = {name: p.data.copy() for name, p in parameters.items()}
    optimizer = SGD(parameters, lr=0.1, momentum=0.9)
    optimizer.lr = 0.0
    run_ours(optimizer, parameters, gradients[:1])
    assert all(np.array_equal(p.data, before[name]) for name, p in parameters.items())


def test_gradients_are_left_alone_and_dtype_kept():
    parameters, gradients = start(dtype=np.float32)
    optimizer = AdamW(parameters, lr=0.1, clip_norm=0.5)
    run_ours(optimizer, parameters, gradients[:2])
    assert all(p.data.dtype == np.float32 and np.array_equal(p.grad, gradients[1][name])
               for name, p in parameters.items())
    optimizer.zero_grad()
    assert not any(np.any(p.grad) for p in parameters.values())


def test_optimizer_errors():
    parameters, _ = start()
    model = build_model("fc2", input_shape=(3,))
    with pytest.raises(ValueError, match=r"unknown optimizer 'adma'; did you mean 'adam'\? The optimizers are sgd"):
        make_optimizer("adma", parameters)
    with pytest.raises(TypeError, match=r"takes the model's parameters, not the model: SGD\(model.parameters\(\)"):
        SGD(model)
    with pytest.raises(TypeError, match=r"name -> trainable Parameter"):
        SGD({"w": np.ones(3)})
    with pytest.raises(ValueError, match=r"lr ≥ 0"):
        Adam(parameters, lr=-1)
    with pytest.raises(ValueError, match=r"nesterov=True needs momentum > 0"):
        SGD(parameters, nesterov=True)
    with pytest.raises(TypeError):
        make_optimizer("sgd", parameters, betas=(0.9, 0.99))
    arrays, scalars = Adam(parameters).state_dict()
    with pytest.raises(ValueError, match=r"this optimizer state is for 'adam', not 'sgd'"):
        SGD(parameters).load_state_dict(arrays, scalars)
    with pytest.raises(ValueError, match=r"missing \['m.conv.bias'\]"):
        Adam(parameters).load_state_dict({k: v for k, v in arrays.items() if k != "m.conv.bias"}, scalars)
    arrays["s.fc.weight"] = np.ones((2, 2))
    with pytest.raises(ValueError, match=r"'s.fc.weight' has shape \(2, 2\), the parameter \(4, 12\)"):
        Adam(parameters).load_state_dict(arrays, scalars)
