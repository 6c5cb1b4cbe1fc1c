# The two memory layouts of an (N, D, H, W) batch that every fast op must take.
import numpy as np


def channel_last(array):
    # the same numbers, laid out (N, H, W, D) in memory, seen as (N, D, H, W): what a net passes between layers
    return np.ascontiguousarray(array.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)


def padded_channel_last(array):
    # channel-last numbers inside a zero border, not contiguous: what a convolution's dx is (a view into its padded array)
    n, depth, height, width = array.shape
    padded = np.zeros((n, height + 2, width + 2, depth), array.dtype)
    padded[:, 1:-1, 1:-1] = array.transpose(0, 2, 3, 1)
    return padded[:, 1:-1, 1:-1].transpose(0, 3, 1, 2)


LAYOUTS = [np.ascontiguousarray, channel_last]
