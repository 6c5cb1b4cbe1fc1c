import pytest

from volnet.ops import parallel


@pytest.fixture
def tiny_chunks(monkeypatch):
    # a chunk of one example: every loop over chunks runs many times, on the worker threads
    for kind in parallel.CHUNK_NUMBERS:
        monkeypatch.setitem(parallel.CHUNK_NUMBERS, kind, 1)
