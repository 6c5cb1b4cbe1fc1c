# The direct loops (volnet/ops/conv_direct.py): the same results whatever the thread count,
# a float32 first layer against the float64 reference, the taps of a field. A numba that
# cannot load: test_conv_winograd.py, for both numba algorithms. Their sweeps against the
# reference over the case table are in test_conv.py.
import numpy as np
import pytest
from threadpoolctl import threadpool_limits

from volnet.ops import conv_direct
from volnet.ops.conv import conv2d_backward, conv2d_backward_reference, conv2d_forward, conv2d_forward_reference

pytest.importorskip("numba")


def _layer(dtype, seed=0, input_shape=(6, 1, 28, 27), size=3):
    # 32 filters of size×size over input_shape (N, D, H, W), with dout for a "same" padding;
    # by default the Fashion-MNIST first layer (1 → 32, 3×3), odd width
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(input_shape)
    w = rng.standard_normal((32, input_shape[1], size, size)) * 0.3
    b = rng.standard_normal(32)
    dout = rng.standard_normal((input_shape[0], 32, *input_shape[2:]))
    return [a.astype(dtype) for a in (x, w, b, dout)]


# CIFAR-10's first layer (3 → 32, 5×5, pad 2), small: im2col's forward and dw, direct's dx
@pytest.mark.parametrize("layer, pad, algorithm", [(dict(), 1, "direct"),
                                                   (dict(input_shape=(5, 3, 17, 16), size=5), 2, "auto")],
                         ids=["direct", "im2col with direct dx"])
def test_results_are_the_same_whatever_the_thread_count(tiny_chunks, layer, pad, algorithm):
    # one partial dw per chunk, summed in the chunks' order: bit for bit equal on 1 and 2 workers
    x, w, b, dout = _layer(np.float32, **layer)
    results = []
    for threads in (1, 2):
        with threadpool_limits(threads):
            out, cache = conv2d_forward(x, w, b, pad=pad, algorithm=algorithm)
            results.append((out, *conv2d_backward(dout, cache)))
    assert (cache.input_gradient_algorithm or cache.algorithm) == "direct"
    for single, double in zip(*results):
        np.testing.assert_array_equal(single, double)


def test_a_float32_first_layer_agrees_with_the_float64_reference():
    # the Fashion-MNIST first layer (1 → 32, 3×3, pad 1), odd width, as the policy gives it:
    # float32 sums of 9 products per output and of 6·28·27 per dw, relative to the largest
    x, w, b, dout = _layer(np.float64, seed=1)
    out, cache = conv2d_forward(*(a.astype(np.float32) for a in (x, w, b)), pad=1)
    assert cache.algorithm == "direct"
    out_ref, cache_ref = conv2d_forward_reference(x, w, b, pad=1)
    grads = conv2d_backward(dout.astype(np.float32), cache)
    for name, got, want in zip(("out", "dx", "dw", "db"), (out, *grads), (out_ref, *conv2d_backward_reference(dout, cache_ref))):
        assert got.dtype == np.float32 and got.shape == want.shape, name
        np.testing.assert_allclose(got, want, rtol=0, atol=2e-6 * np.abs(want).max(), err_msg=name)


def test_the_taps_of_a_field_are_its_offsets_in_channel_last_memory():
    # a 2-deep 2×3 filter, dilation (1, 2), in a padded 5×9×2 input: offset (a·1·9 + c·2)·2 + d,
    # padded with taps of offset 0 to a multiple of three, whose weights are 0
    fields = conv_direct.Fields((5, 9, 2), (2, 3), stride=(2, 1), dilation=(1, 2))
    assert fields.count == 12
    assert fields.taps.tolist() == [0, 1, 4, 5, 8, 9, 18, 19, 22, 23, 26, 27]
    assert (fields.row_step, fields.column_step) == (2 * 9 * 2, 2)
    fields = conv_direct.Fields((4, 4, 1), (2, 2), (1, 1), (1, 1))
    w = np.arange(8.0).reshape(2, 1, 2, 2)
    assert fields.taps.tolist() == [0, 1, 4, 5, 0, 0]
    np.testing.assert_array_equal(fields.weights(w), [[0, 4], [1, 5], [2, 6], [3, 7], [0, 0], [0, 0]])
