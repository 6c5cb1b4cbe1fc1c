# The worked numbers of docs/backprop.md, computed by volnet: the page cannot drift from the code.
import numpy as np

from volnet.ops import (batchnorm_backward, batchnorm_forward, conv2d_backward, conv2d_forward, im2col,
                        pool2d_backward, pool2d_forward)


def test_conv_example():
    x = np.arange(1, 10, dtype=float).reshape(1, 1, 3, 3)
    w = np.array([[1, 2], [3, 4]], dtype=float).reshape(1, 1, 2, 2)
    out, cache = conv2d_forward(x, w, np.zeros(1))
    np.testing.assert_array_equal(out[0, 0], [[37, 47], [67, 77]])
    np.testing.assert_array_equal(im2col(x, (2, 2), (2, 2), (1, 1), (0, 0)),
                                  [[1, 2, 4, 5], [2, 3, 5, 6], [4, 5, 7, 8], [5, 6, 8, 9]])
    dx, dw, db = conv2d_backward(np.array([[1, -1], [2, 0]], dtype=float).reshape(1, 1, 2, 2), cache)
    np.testing.assert_array_equal(db, [2])
    np.testing.assert_array_equal(dw[0, 0], [[7, 9], [13, 15]])
    np.testing.assert_array_equal(dx[0, 0], [[1, 1, -2], [5, 5, -4], [6, 8, 0]])


def test_pool_example():
    x = np.array([[1, 3, 2, 1], [4, 2, 0, 1], [3, 1, 1, 5], [0, 2, 6, 2]], dtype=float).reshape(1, 1, 4, 4)
    dout = np.array([[1, 2], [3, 4]], dtype=float).reshape(1, 1, 2, 2)
    out, cache = pool2d_forward(x, 2, 2, mode="max")
    np.testing.assert_array_equal(out[0, 0], [[4, 2], [3, 6]])
    np.testing.assert_array_equal(pool2d_backward(dout, cache)[0, 0],
                                  [[0, 0, 2, 0], [1, 0, 0, 0], [3, 0, 0, 0], [0, 0, 4, 0]])
    _, cache = pool2d_forward(x, 2, 2, mode="avg")
    np.testing.assert_array_equal(pool2d_backward(dout, cache)[0, 0, 0, :2], [0.25, 0.25])


def test_batchnorm_example():
    x = np.array([[1.0], [2.0], [3.0], [6.0]])
    out, cache = batchnorm_forward(x, np.ones(1), np.zeros(1), np.zeros(1), np.ones(1))
    np.testing.assert_allclose(out.ravel(), [-1.069, -0.535, 0, 1.604], atol=5e-4)
    dx, _, _ = batchnorm_backward(np.array([[1.0], [0], [0], [0]]), cache)
    np.testing.assert_allclose(dx.ravel(), [0.248, -0.210, -0.134, 0.095], atol=5e-4)
    assert abs(dx.sum()) < 1e-12
