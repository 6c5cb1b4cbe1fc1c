"""Checkpoints are written atomically, read back exactly, and damage is reported as such."""

import os

import numpy as np
import pytest

from volnet.training import load_checkpoint, save_checkpoint


@pytest.fixture
def trained(make_trainer, small_split, tmp_path):
    trainer = make_trainer(tmp_path)
    trainer.fit(*small_split, epochs=1)
    return trainer, tmp_path / "checkpoint.npz"


def test_round_trip_is_exact(trained):
    trainer, path = trained
    checkpoint = load_checkpoint(path)
    assert checkpoint.epoch == 1 and checkpoint.step == trainer.step
    assert checkpoint.history == trainer.history
    for name, value in trainer.model.state().items():
        assert np.array_equal(checkpoint.model_state[name], value)
    arrays, scalars = trainer.optimizer.state_dict()
    assert checkpoint.optimizer_scalars == scalars
    assert all(np.array_equal(checkpoint.optimizer_arrays[name], value) for name, value in arrays.items())


def test_a_failed_write_leaves_the_old_file_and_no_partial_one(trained, monkeypatch):
    trainer, path = trained
    before = path.read_bytes()
    folder = sorted(os.listdir(path.parent))

    def fails(source, target):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", fails)
    later = trainer.checkpoint()
    later.epoch = 2
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(path, later)
    assert sorted(os.listdir(path.parent)) == folder  # no temporary file left behind
    assert path.read_bytes() == before
    assert load_checkpoint(path).epoch == 1


def test_a_truncated_checkpoint_is_reported(trained):
    _, path = trained
    content = path.read_bytes()
    path.write_bytes(content[: len(content) // 2])
    with pytest.raises(ValueError, match="truncated or corrupt"):
        load_checkpoint(path)


def test_a_changed_byte_is_reported(trained):
    _, path = trained
    content = bytearray(path.read_bytes())
    content[len(content) // 3] ^= 0xFF
    path.write_bytes(bytes(content))
    with pytest.raises(ValueError, match="truncated or corrupt"):
        load_checkpoint(path)


def test_a_model_file_is_not_a_checkpoint(trained, tmp_path):
    from volnet.models.serialize import save_model

    trainer, _ = trained
    save_model(tmp_path / "model.npz", trainer.model)
    with pytest.raises(ValueError, match="holds a model, not a checkpoint"):
        load_checkpoint(tmp_path / "model.npz")
