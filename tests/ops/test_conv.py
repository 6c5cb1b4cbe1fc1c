# Convolution (volnet/ops/conv.py): every algorithm against the reference loops over the one
# case table (conv_cases.py), in both memory layouts and with tiny chunks; the two halves of
# the backward on their own; the reference against centred differences and PyTorch; the
# policy, the switches and the registry. Float64 agreement to 1e-10 means only summation
# order differs.
import os
import subprocess
import sys

import numpy as np
import pytest

from tests.ops.conv_cases import CASES, case_id, random_case
from tests.ops.layouts import channel_last
from volnet.layers import Conv2D
from volnet.ops import conv
from volnet.ops.conv import (ALGORITHMS, ConvAlgorithm, choose_algorithm, conv2d_backward, conv2d_backward_reference,
                             conv2d_filter_gradient, conv2d_forward, conv2d_forward_reference, conv2d_input_gradient,
                             register_algorithm, set_default_algorithm, use_algorithm)
from volnet.ops.geometry import pair
from volnet.gradients.numerical import numerical_gradient, rel_error

FAST = [name for name in ALGORITHMS if name != "reference"]


def refuses(name, case, dtype=np.float64, operation="forward"):
    n, d, h, w_, k, fh, fw, stride, pad, dilation, groups = case
    return ALGORITHMS[name].refusal((k, d // groups, fh, fw), (np.dtype(dtype),) * 2, pair(stride), pair(pad),
                                    pair(dilation), groups, operation)


def runs(names, operation="forward", dtype=np.float64):
    # (case, algorithm) for every algorithm that can compute the case
    return [pytest.param(case, name, id=f"{name}-{case_id(case)}")
            for case in CASES for name in names if refuses(name, case, dtype, operation) is None]


def assert_close(got, want, tolerance=1e-10, name=""):
    np.testing.assert_allclose(got, want, rtol=tolerance, atol=tolerance * max(1.0, np.abs(want).max()), err_msg=name)


@pytest.mark.parametrize("name", list(ALGORITHMS))
def test_all_ones_counts_corners_edges_and_centre(name):
    # a 3×3 filter of ones over a 4×4 input of ones, pad 1: each output counts the real
    # (non-padding) inputs in its receptive field: 4 at corners, 6 on edges, 9 inside
    expected = np.array([[4, 6, 6, 4], [6, 9, 9, 6], [6, 9, 9, 6], [4, 6, 6, 4]], dtype=float)
    out, cache = conv2d_forward(np.ones((1, 1, 4, 4)), np.ones((1, 1, 3, 3)), np.zeros(1), stride=1, pad=1,
                                algorithm=name)
    assert cache.algorithm == name
    np.testing.assert_allclose(out[0, 0], expected, atol=1e-12)


def test_depth_and_bias_add_up():
    # the notes' rule: the filter spans the full depth, so depth 3 triples the count; bias adds once
    for name in ("reference", "im2col"):
        out, _ = conv2d_forward(np.ones((1, 3, 3, 3)), np.ones((2, 3, 3, 3)), np.array([0.5, -1.0]), algorithm=name)
        np.testing.assert_array_equal(out.reshape(2), [27.5, 26.0])


def test_stride_two_picks_every_other_position():
    x = np.arange(25, dtype=float).reshape(1, 1, 5, 5)
    w = np.zeros((1, 1, 1, 1))
    w[0, 0, 0, 0] = 1
    for name in ("reference", "im2col"):
        out, _ = conv2d_forward(x, w, None, stride=2, algorithm=name)
        np.testing.assert_array_equal(out[0, 0], x[0, 0, ::2, ::2])


def strided(array):
    # neither layout: every other number of a wider array
    return np.repeat(array, 2, axis=-1)[..., ::2]


@pytest.mark.parametrize("case, name", runs(FAST))
@pytest.mark.parametrize("layout", [np.ascontiguousarray, channel_last, strided], ids=["nchw", "nhwc", "strided"])
@pytest.mark.parametrize("chunks", ["measured", "one example"])
def test_every_algorithm_matches_the_reference_in_any_layout_and_chunking(case, name, layout, chunks, request):
    if chunks == "one example":
        request.getfixturevalue("tiny_chunks")
    x, w, b, hyper = random_case(case)
    out, cache = conv2d_forward(layout(x), w, b, **hyper, algorithm=name)
    out_ref, cache_ref = conv2d_forward_reference(x, w, b, **hyper)
    assert cache.algorithm == name
    assert_close(out, out_ref, name="out")
    dout = np.random.default_rng(1).standard_normal(out.shape)
    for label, fast, ref in zip(("dx", "dw", "db"), conv2d_backward(layout(dout), cache),
                                conv2d_backward_reference(dout, cache_ref)):
        assert_close(fast, ref, name=label)


@pytest.mark.parametrize("case", CASES, ids=case_id)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("layout", [np.ascontiguousarray, channel_last, strided], ids=["nchw", "nhwc", "strided"])
def test_auto_computes_dx_by_the_policys_input_gradient_algorithm(case, dtype, layout):
    # "auto" may compute dx by another algorithm than the forward and dw (a shallow 5×5 layer:
    # im2col, dx by direct): the three gradients still equal the reference's, in the input's dtype
    x, w, b, hyper = random_case(case, seed=6)
    out, cache = conv2d_forward(layout(x.astype(dtype)), w.astype(dtype), b.astype(dtype), **hyper)
    assert cache.algorithm == choose_algorithm(w.shape, (np.dtype(dtype),) * 2, **hyper)
    assert (cache.input_gradient_algorithm or cache.algorithm) == choose_algorithm(
        w.shape, (np.dtype(dtype),) * 2, **hyper, operation="input_gradient")
    out_ref, cache_ref = conv2d_forward_reference(x, w, b, **hyper)
    tolerance = 1e-10 if dtype == np.float64 else 1e-5
    assert_close(out, out_ref, tolerance, name="out")
    dout = np.random.default_rng(7).standard_normal(out.shape)
    for label, fast, ref in zip(("dx", "dw", "db"), conv2d_backward(layout(dout.astype(dtype)), cache),
                                conv2d_backward_reference(dout, cache_ref)):
        assert fast.dtype == dtype and fast.shape == ref.shape, label
        assert_close(fast, ref, tolerance, name=label)


def halves():
    # (case, algorithm, which half) for every algorithm that can compute that half of the case
    return [pytest.param(*param.values, half, id=f"{half}-{param.id}")
            for half in ("input_gradient", "filter_gradient") for param in runs(ALGORITHMS, half)]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case, name, half", halves())
def test_each_half_of_the_backward_alone_equals_the_backwards(case, name, half, dtype):
    # conv2d_input_gradient is the backward's dx, conv2d_filter_gradient its dw, from dout alone
    x, w, b, hyper = random_case(case, seed=4, dtype=np.float64)
    out, cache = conv2d_forward_reference(x, w, b, **hyper)
    dout = np.random.default_rng(5).standard_normal(out.shape)
    dx_ref, dw_ref, _ = conv2d_backward_reference(dout, cache)
    if half == "input_gradient":
        got, want = conv2d_input_gradient(dout.astype(dtype), w.astype(dtype), x.shape[2:], **hyper, algorithm=name), dx_ref
    else:
        got, want = conv2d_filter_gradient(x.astype(dtype), dout.astype(dtype), w.shape[2:], **hyper, algorithm=name), dw_ref
    assert got.dtype == dtype and got.shape == want.shape
    assert_close(got, want, 1e-10 if dtype == np.float64 else 1e-5)


def _grown(case, rng):
    # an input up to S − 1 rows and columns larger than the smallest that gives the same output
    n, d, h, w_, k, fh, fw, stride, pad, dilation, groups = case
    stride = pair(stride)
    return tuple(size + int(rng.integers(0, s)) for size, s in zip((h, w_), stride))


@pytest.mark.parametrize("case", [c for c in CASES if max(pair(c[7])) > 1], ids=case_id)
@pytest.mark.parametrize("name", ["reference", "im2col"])
def test_gradients_of_an_input_with_rows_the_output_size_rounds_away(case, name):
    # input_hw may exceed the exact size by up to S − 1: both halves are then PyTorch's
    # gradients of that larger input (conv_transpose2d with output_padding); checked by torch
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(8)
    x, w, _, hyper = random_case(case, seed=9)
    out_hw = conv2d_forward_reference(x, w, None, **hyper)[0].shape[2:]
    for _ in range(3):
        hw = _grown(case, rng)
        big = rng.standard_normal((*x.shape[:2], *hw))
        dout = rng.standard_normal((len(x), w.shape[0], *out_hw))
        x_torch, w_torch = torch.from_numpy(big).requires_grad_(), torch.from_numpy(w).requires_grad_()
        out = torch.nn.functional.conv2d(x_torch, w_torch, stride=pair(hyper["stride"]), padding=pair(hyper["pad"]),
                                         dilation=pair(hyper["dilation"]), groups=hyper["groups"])
        assert tuple(out.shape[2:]) == out_hw
        out.backward(torch.from_numpy(dout))
        assert_close(conv2d_input_gradient(dout, w, hw, **hyper, algorithm=name), x_torch.grad.numpy())
        assert_close(conv2d_filter_gradient(big, dout, w.shape[2:], **hyper, algorithm=name), w_torch.grad.numpy())


def test_an_input_too_large_for_the_output_is_named():
    with pytest.raises(ValueError, match=r"conv2d_input_gradient: an output height of 4 .* = 7 to 8 .*got 9"):
        conv2d_input_gradient(np.zeros((1, 2, 4, 4)), np.zeros((2, 1, 3, 3)), (9, 8), stride=2, pad=1)
    with pytest.raises(ValueError, match="conv2d_filter_gradient: input depth 3, 2 filters and groups=2"):
        conv2d_filter_gradient(np.zeros((1, 3, 7, 7)), np.zeros((1, 2, 7, 7)), 1, groups=2)


@pytest.mark.parametrize("case, name", runs(ALGORITHMS))
def test_parity_with_torch(case, name):
    # forward and all three gradients against torch.nn.functional.conv2d, in float64
    torch = pytest.importorskip("torch")
    x, w, b, hyper = random_case(case, seed=10)
    out, cache = conv2d_forward(x, w, b, **hyper, algorithm=name)
    tensors = [torch.from_numpy(a).requires_grad_() for a in (x, w, b)]
    theirs = torch.nn.functional.conv2d(*tensors, stride=pair(hyper["stride"]), padding=pair(hyper["pad"]),
                                        dilation=pair(hyper["dilation"]), groups=hyper["groups"])
    assert_close(out, theirs.detach().numpy())
    dout = np.random.default_rng(11).standard_normal(out.shape)
    theirs.backward(torch.from_numpy(dout))
    for ours, tensor in zip(conv2d_backward(dout, cache), tensors):
        assert_close(ours, tensor.grad.numpy())


@pytest.mark.parametrize("case", [CASES[1], CASES[3], CASES[7], CASES[8]], ids=case_id)
def test_reference_backward_matches_numerical_gradient(case):
    # the reference itself is checked against centred differences, so every algorithm is anchored
    x, w, b, hyper = random_case(case, seed=2)
    out, cache = conv2d_forward_reference(x, w, b, **hyper)
    dout = np.random.default_rng(3).standard_normal(out.shape)
    dx, dw, db = conv2d_backward_reference(dout, cache)

    def loss():
        return float(np.sum(conv2d_forward_reference(x, w, b, **hyper)[0] * dout))

    for analytic, value in ((dx, x), (dw, w), (db, b)):
        assert rel_error(analytic, numerical_gradient(loss, value)) < 1e-7


@pytest.mark.parametrize("name", list(ALGORITHMS))
def test_without_bias_db_is_none_and_without_input_gradient_dx_is(name):
    x, w, b, hyper = random_case(CASES[12])
    out, cache = conv2d_forward(x, w, None, **hyper, algorithm=name)
    dout = np.random.default_rng(3).standard_normal(out.shape)
    dx, dw, db = conv2d_backward(dout, cache)
    assert db is None and dx is not None
    out, cache = conv2d_forward(x, w, b, **hyper, algorithm=name)
    none, dw_only, db_only = conv2d_backward(dout, cache, input_gradient=False)
    _, dw_all, db_all = conv2d_backward(dout, cache)
    assert none is None
    np.testing.assert_array_equal(dw_only, dw_all)
    np.testing.assert_array_equal(db_only, db_all)


@pytest.mark.parametrize("case, name", runs(FAST, dtype=np.float32))
def test_float32_stays_float32_and_the_output_is_channel_last(case, name):
    x, w, b, hyper = random_case(case, dtype=np.float32)
    out, cache = conv2d_forward(x, w, b, **hyper, algorithm=name)
    assert out.dtype == np.float32 and out.transpose(0, 2, 3, 1).flags.c_contiguous
    assert all(g.dtype == np.float32 for g in conv2d_backward(np.ones_like(out), cache))


def test_depth_mismatch_is_a_clear_error():
    with pytest.raises(ValueError, match="input depth 3 .* filters of depth 3/1"):
        conv2d_forward(np.zeros((1, 3, 5, 5)), np.zeros((2, 4, 3, 3)))


# -- which algorithm runs -------------------------------------------------------------------

numba = pytest.mark.skipif(ALGORITHMS["winograd"].refusal((1, 1, 3, 3), ("f8", "f8"), (1, 1), (1, 1), (1, 1), 1,
                                                          "forward") is not None, reason="Winograd needs numba")


@numba
@pytest.mark.parametrize("w_shape, stride, dilation, groups, expected", [
    ((64, 32, 3, 3), 1, 1, 1, "winograd"),
    ((64, 16, 3, 3), 1, 1, 1, "winograd"),
    ((64, 15, 3, 3), 1, 1, 1, "im2col"),   # thinner than WINOGRAD_MIN_DEPTH: a first layer
    ((64, 32, 5, 5), 1, 1, 1, "im2col"),
    ((64, 32, 3, 3), 2, 1, 1, "im2col"),
    ((64, 32, 3, 3), 1, 2, 1, "im2col"),
    ((64, 16, 3, 3), 1, 1, 2, "im2col"),
    ((64, 32, 3, 1), 1, 1, 1, "im2col"),
])
def test_the_policy_picks_winograd_for_deep_3x3_stride_1_layers(monkeypatch, w_shape, stride, dilation, groups, expected):
    depth = w_shape[1] * groups
    x, w = np.zeros((2, depth, 7, 7)), np.zeros(w_shape)
    assert choose_algorithm(w_shape, (x.dtype, w.dtype), stride, 1, dilation, groups) == expected
    assert conv2d_forward(x, w, stride=stride, pad=(1, 0), dilation=dilation, groups=groups)[1].algorithm == expected
    monkeypatch.setenv("VOLNET_WINOGRAD", "0")  # read when asked: off from the next call
    assert choose_algorithm(w_shape, (x.dtype, w.dtype), stride, 1, dilation, groups) == "im2col"


@numba
@pytest.mark.parametrize("w_shape, stride, dilation, groups, dtype, expected", [
    ((32, 1, 3, 3), 1, 1, 1, np.float32, "direct"),   # the Fashion-MNIST first layer
    ((32, 3, 3, 3), 2, 1, 1, np.float32, "direct"),
    ((32, 2, 3, 3), 1, 1, 1, np.float64, "direct"),
    ((16, 2, 1, 1), 1, 1, 1, np.float32, "direct"),
    ((32, 3, 3, 1), 1, 1, 1, np.float32, "direct"),
    # larger than DIRECT_MAX_SIZE: the matrix multiply for the forward and dw; dx by direct's scatter
    ((32, 1, 5, 5), 1, 1, 1, np.float32, ("im2col", "direct", "im2col")),
    ((32, 3, 5, 5), 1, 1, 1, np.float32, ("im2col", "direct", "im2col")),
    ((32, 1, 7, 7), 2, 1, 1, np.float32, ("im2col", "direct", "im2col")),
    ((32, 4, 3, 3), 1, 1, 1, np.float32, "im2col"),   # deeper than DIRECT_MAX_DEPTH
    ((32, 1, 3, 3), 1, 2, 1, np.float32, "im2col"),   # dilation: not measured
    ((6, 1, 3, 3), 1, 1, 3, np.float32, "im2col"),    # three groups (depthwise): the loops refuse
    ((32, 1, 3, 3), 1, 1, 1, np.float16, "im2col"),   # numba's loops are float32 and float64 only
])
def test_the_policy_picks_direct_for_shallow_layers(w_shape, stride, dilation, groups, dtype, expected):
    # expected: one algorithm for all three operations, or (forward, input_gradient, filter_gradient)
    forward, input_gradient, filter_gradient = (expected,) * 3 if isinstance(expected, str) else expected
    depth = w_shape[1] * groups
    x, w = np.zeros((2, depth, 9, 9), dtype), np.zeros(w_shape, dtype)
    for operation, chosen in zip(("forward", "input_gradient", "filter_gradient"),
                                 (forward, input_gradient, filter_gradient)):
        assert choose_algorithm(w_shape, (x.dtype, w.dtype), stride, 1, dilation, groups, operation) == chosen
    cache = conv2d_forward(x, w, stride=stride, pad=(1, 0) if w_shape[2] < 5 else 2, dilation=dilation,
                           groups=groups)[1]
    assert cache.algorithm == forward
    assert (cache.input_gradient_algorithm or cache.algorithm) == input_gradient
    layer = Conv2D(w_shape[0], w_shape[2:], stride=stride, pad="same" if stride == 1 else 0, dilation=dilation,
                   groups=groups)
    if dtype in (np.float32, np.float64):
        layer.to(dtype)
        layer.forward(x)
        assert layer.last_algorithm == forward


@numba
def test_a_shallow_5x5_layer_runs_im2col_with_direct_dx_and_a_mixed_dout_keeps_im2col():
    # the policy's split, and its limit: a dout whose dtype direct refuses gets im2col's dx
    x, w, b, hyper = random_case(CASES[-2], dtype=np.float32)
    out, cache = conv2d_forward(x, w, b, **hyper)
    assert (cache.algorithm, cache.input_gradient_algorithm) == ("im2col", "direct")
    dout = np.random.default_rng(8).standard_normal(out.shape)
    mixed = conv2d_backward(dout, cache)  # float64 dout, float32 filters
    same = conv2d_backward(dout.astype(np.float32), cache)
    for got, want in zip(mixed, same):
        assert_close(got, want, 1e-5)
    with use_algorithm("im2col"):
        assert conv2d_forward(x, w, b, **hyper)[1].input_gradient_algorithm is None
    assert conv2d_forward(x, w, b, **hyper, algorithm="im2col")[1].input_gradient_algorithm is None


@pytest.mark.parametrize("x_dtype, w_dtype", [
    (np.float16, np.float16), (np.float32, np.float64), (np.int64, np.int64), (">f4", ">f4"),
])
def test_other_dtypes_take_im2col(x_dtype, w_dtype):
    # numba's kernels exist for native float32 and float64; G's halves would round to 0 in integers
    rng = np.random.default_rng(4)
    x = (rng.standard_normal((2, 16, 5, 5)) * 4).astype(x_dtype)
    w = (rng.standard_normal((4, 16, 3, 3)) * 4).astype(w_dtype)
    out, cache = conv2d_forward(x, w, None, pad=1)
    assert cache.algorithm == "im2col"
    reference, _ = conv2d_forward_reference(x.astype(np.float64), w.astype(np.float64), None, pad=1)
    np.testing.assert_allclose(out, reference, rtol=1e-2, atol=1e-2 * np.abs(reference).max())
    with pytest.raises(ValueError, match="'winograd' cannot compute this convolution: its operands are"):
        conv2d_forward(x, w, None, pad=1, algorithm="winograd")


@numba
def test_volnet_winograd_0_turns_it_off_in_a_fresh_process():
    code = ("import numpy as np; from volnet.ops.conv import conv2d_forward; "
            "print(conv2d_forward(np.ones((1, 16, 4, 4)), np.ones((2, 16, 3, 3)), pad=1)[1].algorithm)")
    for value, expected in (("0", "im2col"), ("1", "winograd")):
        env = {**os.environ, "VOLNET_WINOGRAD": value}
        assert subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                              check=True).stdout.strip() == expected


@numba
def test_use_algorithm_and_the_process_default_choose_where_they_can():
    x, w = np.ones((1, 16, 6, 6)), np.ones((2, 16, 3, 3))
    assert conv2d_forward(x, w, pad=1)[1].algorithm == "winograd"
    with use_algorithm("im2col"):
        assert conv2d_forward(x, w, pad=1)[1].algorithm == "im2col"
        assert conv2d_forward(x, w, pad=1, algorithm="reference")[1].algorithm == "reference"  # an argument wins
        with use_algorithm("winograd"):  # cannot do stride 2: the policy decides there
            assert conv2d_forward(x, w, pad=1)[1].algorithm == "winograd"
            assert conv2d_forward(x[:, :, :5, :5], w, stride=2)[1].algorithm == "im2col"
        assert conv2d_forward(x, w, pad=1)[1].algorithm == "im2col"
    assert conv2d_forward(x, w, pad=1)[1].algorithm == "winograd"
    set_default_algorithm("reference")
    try:
        assert conv2d_forward(x, w, pad=1)[1].algorithm == "reference"
        assert conv.default_algorithm() == "reference"
    finally:
        set_default_algorithm("auto")
    assert conv2d_forward(x, w, pad=1)[1].algorithm == "winograd"


def test_unknown_and_impossible_algorithms_are_named():
    x, w = np.ones((1, 2, 6, 6)), np.ones((2, 2, 5, 5))
    with pytest.raises(ValueError, match="unknown conv algorithm 'fft'; known: auto, reference, im2col, winograd, direct"):
        conv2d_forward(x, w, algorithm="fft")
    with pytest.raises(ValueError, match="unknown conv algorithm"):
        use_algorithm("fft").__enter__()
    with pytest.raises(ValueError, match=r"'winograd' cannot compute this convolution: its filters "
                                         r"\(K, D/G, FH, FW\) = \(2, 2, 5, 5\) are not 3×3"):
        conv2d_forward(x, w, algorithm="winograd")
    with pytest.raises(ValueError, match="cannot be named 'auto'"):
        register_algorithm(ConvAlgorithm("auto", *[None] * 4))
    with pytest.raises(ValueError, match="a conv algorithm named 'im2col' is registered already"):
        register_algorithm(ConvAlgorithm("im2col", *[None] * 4))


def test_a_registered_algorithm_runs_by_name_and_shows_on_the_layer():
    # a new algorithm is its four functions, registered: here the reference under another name
    reference = ALGORITHMS["reference"]
    register_algorithm(ConvAlgorithm("loops", reference.forward, reference.backward, reference.input_gradient,
                                     reference.filter_gradient))
    try:
        layer = Conv2D(3, 3, pad=1)
        x = np.random.default_rng(0).standard_normal((2, 4, 5, 5)).astype(np.float32)  # too deep for "direct"
        expected = layer.forward(x)
        assert layer.algorithm == "auto" and layer.last_algorithm == "im2col"
        layer.algorithm = "loops"
        np.testing.assert_allclose(layer.forward(x), expected, rtol=1e-5, atol=1e-5)
        assert layer.last_algorithm == "loops"
        layer.backward(np.ones_like(expected))
        with use_algorithm("loops"):
            layer.algorithm = "auto"
            layer.forward(x)
            assert layer.last_algorithm == "loops"
    finally:
        del ALGORITHMS["loops"]
