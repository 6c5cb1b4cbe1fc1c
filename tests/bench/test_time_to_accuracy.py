# The time-to-accuracy benchmark (volnet.bench.time_to_accuracy): the PyTorch run is volnet's run
# step for step — the same weights, batches, learning rates, loss and averages — and the command
# writes what the lead tabulates. Speed is never asserted (that is what the benchmark reports).
import json

import numpy as np
import pytest

from volnet.bench.time_to_accuracy import Stopwatch, TorchRun, check_mirrored, epoch_batches, main
from volnet.data import channel_stats
from volnet.errors import SettingError
from volnet.layers import SoftmaxCrossEntropy
from volnet.bench.mirror import torch_names, torch_state_dict
from volnet.training import Trainer, TrainingConfig
from volnet.training.recipes import get_recipe
from volnet.training.run import build_run, load_splits, parse_augment

# no dropout, so that both frameworks compute the same function; batch norm, so that its running
# statistics are averaged too (and no bias before it, whose gradient is 0 but for rounding, which Adam
# would magnify into steps of lr either way)
# 512 examples of the sample: 4 steps of the recipe's batch of 128; an EMA and crops, so that both are mirrored too
TRIAL = dict(dataset="sample", limit=512, epochs=1, architecture="conv3-8/nobias bn relu pool fc16 relu fc10",
             ema=0.999, augment="crop:2,flip")


def test_both_frameworks_start_from_the_same_weights_and_take_the_same_steps():
    torch = pytest.importorskip("torch")
    config = get_recipe("fashion-15min").with_settings(**TRIAL)  # label smoothing from the recipe
    train_set, _, _ = load_splits(config)
    normalize = channel_stats(train_set)
    model, optimizer, schedule = build_run(config, train_set)
    twin = TorchRun(model, optimizer, schedule, config, torch)
    for key, value in torch_state_dict(model).items():
        assert np.array_equal(twin.net.state_dict()[key].numpy(), value), key
    # volnet's own run, its batches recorded as the Trainer draws them
    trainer = Trainer(model, optimizer, SoftmaxCrossEntropy(config.label_smoothing), schedule, config.batch_size,
                      parse_augment(config.augment, 28), normalize, seed=config.seed, progress=False,
                      log=lambda line: None, ema=config.ema)
    seen, step = [], trainer.train_step

    def recorded(x, labels, examples=None):
        seen.append((x.copy(), labels.copy(), step(x, labels, examples)[0]))
        return seen[-1][2], 0

    trainer.train_step = recorded
    trainer.fit(train_set, epochs=1)
    assert len(seen) == 4
    drawn = list(next(epoch_batches(config, train_set, normalize)))  # the batches the torch run draws
    assert all(np.array_equal(x, mine) and np.array_equal(labels, their) for (x, labels, _), (mine, their)
               in zip(seen, drawn, strict=True))
    for x, labels, loss in seen:  # float32 rounding apart, the same loss at every step
        assert twin.train_step(x, labels) == pytest.approx(loss, rel=1e-5)
    # the weights and running statistics after four Adam steps, and their averages (volnet does not
    # count batches: num_batches_tracked is left out)
    state, names = twin.net.state_dict(), torch_names(model)
    for name, key in names.items():
        np.testing.assert_allclose(state[key].numpy(), model.state()[name], rtol=1e-4, atol=1e-5, err_msg=key)
    assert set(twin.average) == set(names.values())
    for name, key in names.items():
        np.testing.assert_allclose(twin.average[key].numpy(), trainer.average.state[name], rtol=1e-4, atol=1e-5,
                                   err_msg=key)


@pytest.mark.slow
@pytest.mark.parametrize("framework", ["volnet", "torch"])
def test_the_command_times_a_recipe_and_writes_json(framework, tmp_path, capsys):
    if framework == "torch":
        pytest.importorskip("torch")
    path = tmp_path / f"{framework}.json"
    assert main(["--recipe", "fashion-3min", "--framework", framework, "--seed", "1", "--dataset", "sample",
                 "--limit", "512", "--epochs", "1", "--each-epoch", "--json", str(path)]) == 0
    result = json.loads(path.read_text())
    assert result["framework"] == framework and result["recipe"] == "fashion-3min" and result["seed"] == 1
    assert result["config"] == {**result["config"], "dataset": "sample", "limit": 512, "epochs": 1, "seed": 1,
                                "tta": "flip"}
    assert 0.1 < result["test_accuracy"] <= 1 and result["threads"] >= 1
    [epoch] = result["epochs"]
    assert 0 < epoch["seconds"] <= result["seconds"] and 0 < epoch["test_accuracy"] <= 1
    captured = capsys.readouterr()
    assert f"{framework} fashion-3min seed 1: test accuracy {result['test_accuracy']:.2%}" in captured.out
    assert "epoch 1/1" in captured.err and "(not timed)" in captured.err


def test_settings_the_torch_run_does_not_mirror_are_refused_by_name():
    for settings, setting in ((dict(optimizer="sgd"), "optimizer"), (dict(clip_norm=1.0), "clip_norm"),
                              (dict(val_fraction=0.1), "val_fraction"), (dict(patience=2), "patience")):
        with pytest.raises(SettingError) as caught:
            check_mirrored(TrainingConfig(**{"val_fraction": 0, **settings}))
        assert caught.value.setting == setting
    check_mirrored(get_recipe("fashion-15min").config)


def test_a_user_error_is_one_line(capsys):
    assert main(["--recipe", "fashion-3mn"]) == 2
    assert main(["--recipe", "fashion-3min", "--framework", "jax"]) == 2
    errors = capsys.readouterr().err.splitlines()
    assert errors[0].startswith("python -m volnet.bench.time_to_accuracy: error: unknown --recipe 'fashion-3mn' "
                                "(did you mean 'fashion-3min'")
    assert errors[1] == ("python -m volnet.bench.time_to_accuracy: error: unknown --framework 'jax'; choose one of "
                         "volnet, torch")


def test_the_stopwatch_leaves_out_paused_time():
    clock = Stopwatch()
    with clock.paused():
        paused = Stopwatch()
        while paused.seconds() < 0.05:
            pass
    assert clock.seconds() < 0.05 <= clock.excluded


def test_what_cannot_be_timed_or_written_is_refused_before_training(tmp_path, capsys):
    folder = tmp_path / "pictures"
    for name in ("cat", "dog"):  # an image folder without a test/ split
        (folder / name).mkdir(parents=True)
    assert main(["--recipe", "fashion-3min", "--dataset", str(folder)]) == 2
    assert main(["--recipe", "fashion-3min", "--json", str(tmp_path / "missing" / "out.json")]) == 2
    assert main(["--recipe", "fashion-3min", "--json", str(tmp_path)]) == 2
    errors = capsys.readouterr().err.splitlines()
    assert len(errors) == 3 and "has no test split" in errors[0]
    assert all("--json" in error and "cannot be written" in error for error in errors[1:])
