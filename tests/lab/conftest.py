"""A small lab on the embedded sample, shared by the server and browser tests."""

from __future__ import annotations

import time

import pytest

pytest.importorskip("starlette")

from volnet.lab.session import Lab, Settings  # noqa: E402

ARCHITECTURE = "conv3-4 relu pool conv3-6 relu pool fc10"
TOKEN = "test-token-0123456789"


@pytest.fixture(scope="module")
def lab():
    lab = Lab(Settings(architecture=ARCHITECTURE, batch_size=16)).start()
    yield lab
    lab.close()


def wait_for(condition, timeout=30.0, what="the condition"):
    """Poll condition() until it is true; fail after timeout seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"{what} did not happen within {timeout} s")
        time.sleep(0.05)


def settled_step(lab):
    """The step count once a pause has taken hold (the step in progress finishes first)."""
    with lab.between_steps():
        return lab.trainer.step
