# Compact arrays and bounded queues: what keeps a slow or closed tab from growing the server's memory.
import asyncio
import json

import numpy as np
import pytest

from volnet.lab import wire


@pytest.mark.parametrize("shape", [(3, 5, 7), (10,), (4, 4), (40, 64, 64), (2, 1, 1)])
def test_a_picture_stands_for_its_array_to_one_255th_of_its_range(shape):
    array = np.random.default_rng(len(shape)).standard_normal(shape) * 3 + 1
    sent = wire.picture(array)
    back = wire.unpicture(sent)
    assert sent["min"] == array.min() and sent["max"] == array.max() and sent["full"] == list(shape)
    cut = array[:wire.MAX_SLICES, ::2, ::2] if shape == (40, 64, 64) else array
    assert back.shape == cut.shape
    np.testing.assert_allclose(back, cut, atol=(array.max() - array.min()) / 255 / 2 + 1e-12)
    assert len(sent["data"]) <= 4 * cut.size / 3 + 4  # one byte per number, in base64


def test_a_constant_array_is_sent_as_zeros():
    sent = wire.picture(np.full((2, 3, 3), 7.0))
    assert sent["min"] == sent["max"] == 7 and np.all(wire.unpicture(sent) == 7)


def test_a_tab_that_never_reads_holds_a_bounded_number_of_messages():
    loop = asyncio.new_event_loop()
    try:
        broker = wire.Broker()
        client = broker.add(loop)
        for step in range(5 * wire.MAX_QUEUED):
            broker.publish("stats", {"point": {"step": step}})
            broker.publish("layers", {"cards": [], "step": step})
        assert client.waiting() == wire.MAX_QUEUED + 1
        texts = client.take()
        steps = [json.loads(text)["point"]["step"] for text in texts[:-1]]
        assert steps == list(range(4 * wire.MAX_QUEUED, 5 * wire.MAX_QUEUED))  # the newest kept, in order
        assert json.loads(texts[-1])["step"] == 5 * wire.MAX_QUEUED - 1  # only the latest big message
        assert client.waiting() == 0
        broker.remove(client)
        assert not broker.listening
    finally:
        loop.close()


def test_the_number_of_tabs_is_bounded():
    loop = asyncio.new_event_loop()
    try:
        broker = wire.Broker()
        for _ in range(wire.MAX_CLIENTS):
            broker.add(loop)
        with pytest.raises(ValueError, match=f"{wire.MAX_CLIENTS} tabs are open"):
            broker.add(loop)
    finally:
        loop.close()


def test_numbers_carry_the_statistics_without_the_values():
    array = np.arange(12.0).reshape(3, 4) - 5
    sent = wire.numbers(array)
    assert sent == {"shape": [], "full": [3, 4], "min": -5.0, "max": 6.0, "mean": 0.5, "data": None}
