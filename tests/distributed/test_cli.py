# `mpiexec -n R volnet train`: one rank reports and writes, a rank that fails stops them all with
# its message, a killed rank leaves the last checkpoint whole, and a run resumes with another
# number of ranks to the single-process result.
from __future__ import annotations

import json
import os
import signal
import sys
import time
import uuid
from pathlib import Path

import numpy as np
import pytest

from volnet.cli.main import main
from volnet.models.serialize import load_model
from volnet.training import Trainer, TrainingConfig, load_checkpoint, train

pytestmark = pytest.mark.slow
# 600 examples, 540 to train on in batches of 60: 9 steps an epoch, shares of 30 on 2 ranks
RUN = ["--arch", "conv3-8 bn relu pool fc16 bn relu dropout0.2 fc10", "--limit", "600", "--batch-size", "60",
       "--optimizer", "momentum", "--lr", "0.01", "--augment", "crop,flip", "--quiet"]
FLOAT32_TOLERANCE = 1e-4  # as tests/distributed/test_equality.py


def volnet(*arguments):
    return ["-m", "volnet", *map(str, arguments)]


def max_relative_difference(first: dict, second: dict) -> float:
    assert first.keys() == second.keys()
    return max(float(np.abs(first[name] - value).max()) / max(1.0, float(np.abs(value).max()))
               for name, value in second.items())


def test_two_ranks_train_as_one_process_and_only_rank_0_speaks_and_writes(mpi, tmp_path):
    distributed = mpi.run(2, *volnet("train", *RUN, "--epochs", "1", "--out", tmp_path / "two"))
    assert distributed.returncode == 0, distributed.stderr
    alone = mpi.run(None, *volnet("train", *RUN, "--epochs", "1", "--out", tmp_path / "one"))
    assert alone.returncode == 0, alone.stderr
    assert distributed.stdout.count("epoch 1/1") == 1 and distributed.stdout.count("test accuracy") == 1
    assert "on 2 ranks" in distributed.stdout
    assert sorted(path.name for path in (tmp_path / "two").iterdir()) == sorted(
        path.name for path in (tmp_path / "one").iterdir())
    two, one = load_model(tmp_path / "two" / "model.npz")[0], load_model(tmp_path / "one" / "model.npz")[0]
    assert max_relative_difference(two.state(), one.state()) < FLOAT32_TOLERANCE
    # the evaluation is shared out and gathered: every test image is counted once
    metrics = json.loads((tmp_path / "two" / "metrics.json").read_text())
    assert np.sum(metrics["test"]["confusion_matrix"]) == 2000


@pytest.mark.parametrize("failing_rank", [0, 1])
def test_a_rank_that_raises_stops_every_rank_with_its_message(mpi, tmp_path, failing_rank):
    worker = Path(__file__).with_name("failing_worker.py")
    started = time.monotonic()
    failed = mpi.run(2, worker, failing_rank, 3, "train", *RUN, "--epochs", "2", "--out", tmp_path / "run",
                     timeout=120)
    assert failed.returncode != 0
    assert (f"volnet train: error: rank {failing_rank} of 2: the data of rank {failing_rank} could not be read at "
            f"step 3") in failed.stderr
    assert "Traceback" not in failed.stderr
    assert time.monotonic() - started < 120  # no rank was left waiting for the one that failed


def test_an_error_every_rank_meets_is_reported_and_ends_the_job(mpi, tmp_path):
    # 129 examples in batches of 64 leave a last batch of 1: too few for 2 ranks
    failed = mpi.run(2, *volnet("train", "--limit", "129", "--val-fraction", "0", "--epochs", "1", "--quiet",
                                "--out", tmp_path / "run"), timeout=120)
    assert failed.returncode == 2
    assert "volnet train: error: rank 0 of 2: an epoch of 129 examples in batches of 64 has a batch of 1" in failed.stderr


def rank_process(marker: str, rank: int) -> int | None:
    """The pid of the rank of the job whose environment holds marker, or None."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environment = (entry / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if f"VOLNET_TEST_JOB={marker}".encode() in environment and any(
                variable in environment for variable in (f"OMPI_COMM_WORLD_RANK={rank}".encode(),
                                                         f"PMI_RANK={rank}".encode())):
            if b"python" in (entry / "cmdline").read_bytes():
                return int(entry.name)
    return None


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="finds the rank's process in /proc")
def test_a_killed_rank_stops_the_job_and_the_run_resumes_on_another_number_of_ranks(mpi, tmp_path):
    out, marker = tmp_path / "run", uuid.uuid4().hex
    job = mpi.start(2, *volnet("train", *RUN, "--epochs", "3", "--out", out), VOLNET_TEST_JOB=marker)
    try:
        deadline = time.monotonic() + 240
        while not (out / "checkpoint.npz").is_file() and job.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert (out / "checkpoint.npz").is_file(), job.communicate()[1]
        os.kill(rank_process(marker, 1), signal.SIGKILL)
        _, stderr = job.communicate(timeout=60)  # the job ends by itself: no rank hangs
    finally:
        if job.poll() is None:
            job.kill()
    assert job.returncode != 0
    assert not (out / "model.npz").exists()
    saved = load_checkpoint(out / "checkpoint.npz")  # whole: its checksum holds
    assert 1 <= saved.epoch < 3 and len(saved.history) == saved.epoch

    resumed = mpi.run(None, *volnet("train", "--resume", out, "--quiet"))  # one process continues it
    assert resumed.returncode == 0, resumed.stderr
    assert f"resuming {out} after epoch {saved.epoch} of 3" in resumed.stdout
    history = json.loads((out / "history.json").read_text())
    assert [record["epoch"] for record in history] == [1, 2, 3]
    assert history[: saved.epoch] == saved.history

    straight = mpi.run(None, *volnet("train", *RUN, "--epochs", "3", "--out", tmp_path / "straight"))
    assert straight.returncode == 0, straight.stderr
    assert max_relative_difference(load_model(out / "model.npz")[0].state(),
                                   load_model(tmp_path / "straight" / "model.npz")[0].state()) < FLOAT32_TOLERANCE


def test_distributed_without_mpi4py_says_what_to_install(monkeypatch, capsys, tmp_path):
    monkeypatch.setitem(sys.modules, "mpi4py", None)  # import mpi4py now raises ImportError
    assert main(["train", "--distributed", "--out", str(tmp_path / "run")]) == 2
    error = capsys.readouterr().err
    assert "volnet train: error:" in error and "pip install 'volnet[mpi]'" in error and "mpich" in error


def test_a_single_process_checkpoint_resumes_on_two_ranks(mpi, tmp_path, monkeypatch):
    # the other direction: one process writes the checkpoint of epoch 1 and stops; 2 ranks finish
    config = TrainingConfig(architecture="conv3-8 bn relu pool fc16 bn relu dropout0.2 fc10", limit=600,
                            batch_size=60, optimizer="momentum", lr=0.01, augment="crop,flip", epochs=2)
    quiet = dict(progress=False, log=lambda line: None)
    straight = train(config, tmp_path / "straight", **quiet)
    step, calls = Trainer.train_step, []

    def stops_in_epoch_two(self, *batch):
        calls.append(1)
        if len(calls) == 12:  # 9 steps an epoch
            raise KeyboardInterrupt
        return step(self, *batch)

    monkeypatch.setattr(Trainer, "train_step", stops_in_epoch_two)
    with pytest.raises(KeyboardInterrupt):
        train(config, tmp_path / "run", **quiet)
    assert load_checkpoint(tmp_path / "run" / "checkpoint.npz").epoch == 1

    resumed = mpi.run(2, *volnet("train", "--resume", tmp_path / "run", "--quiet"))
    assert resumed.returncode == 0, resumed.stderr
    assert "resuming" in resumed.stdout and "on 2 ranks" in resumed.stdout
    assert max_relative_difference(load_model(tmp_path / "run" / "model.npz")[0].state(),
                                   straight.model.state()) < FLOAT32_TOLERANCE
