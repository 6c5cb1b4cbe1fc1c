# Memory layouts (volnet/ops/layout.py) and the window's index slices (volnet/ops/geometry.py):
# padding round-trips, a window view's entries are the inputs its formula names, and the
# per-tap slices visit exactly the inputs of every window.
import itertools

import numpy as np
import pytest

from tests.ops.layouts import channel_last
from volnet.ops.geometry import tap_slice, window_offsets
from volnet.ops.layout import empty_nhwc, is_channel_last, pad_channel_last, unpad_channel_last, window_view


def test_pad_channel_last_round_trips_and_zeroes_the_border():
    x = np.random.default_rng(4).standard_normal((2, 3, 4, 5))
    padded = pad_channel_last(channel_last(x), (1, 2))
    assert padded.shape == (2, 6, 9, 3)
    assert not padded[:, 0].any() and not padded[:, :, :2].any() and not padded[:, -1].any()
    np.testing.assert_array_equal(unpad_channel_last(padded, (1, 2), (4, 5)), x)
    grown = pad_channel_last(x, (1, 1), grow=(1, 2))
    assert grown.shape == (2, 7, 9, 3) and not grown[:, -2:].any() and not grown[:, :, -3:].any()


@pytest.mark.parametrize("stride, dilation", [((1, 1), (1, 1)), ((2, 3), (1, 1)), ((1, 2), (2, 1))])
def test_window_view_and_the_tap_slices_name_the_same_inputs(stride, dilation):
    rng = np.random.default_rng(5)
    x = rng.standard_normal((2, 11, 12, 3))
    window, out_hw = (3, 2), (3, 4)
    view = window_view(x, window, out_hw, stride, dilation)
    for n, i, j, a, b in itertools.product(range(2), range(3), range(4), range(3), range(2)):
        np.testing.assert_array_equal(view[n, i, j, a, b], x[n, i * stride[0] + a * dilation[0],
                                                               j * stride[1] + b * dilation[1]])
    for a, b, rows, columns in window_offsets(window, out_hw, stride, dilation):
        np.testing.assert_array_equal(x[:, rows, columns], view[:, :, :, a, b])
    assert x[0, tap_slice(1 * stride[0], dilation[0], 3), 0, 0].tolist() == view[0, 1, 0, :, 0, 0].tolist()


def test_empty_nhwc_in_either_memory_layout():
    assert is_channel_last(empty_nhwc((2, 3, 4, 5), np.float32).transpose(0, 3, 1, 2))
    assert not is_channel_last(empty_nhwc((2, 3, 4, 5), np.float32, channel_last=False).transpose(0, 3, 1, 2))
