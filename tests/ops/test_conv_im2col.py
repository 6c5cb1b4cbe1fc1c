# im2col's two layouts: volnet's rows and the CS231n notes' X_col, whose recipe
# (W_row = w.reshape(K, -1); out = W_row @ X_col + b) must reproduce the convolution exactly.
# Also: col2im is im2col's adjoint, im2col's two ways to dx agree, and dw's two ways to read
# dout agree (volnet/ops/conv_im2col.py).
import numpy as np
import pytest

from tests.ops.conv_cases import CASES, case_id, random_case
from volnet.ops import conv2d_forward_reference, conv_im2col, im2col
from volnet.ops.conv_im2col import (col2im, conv2d_backward_im2col, conv2d_filter_gradient_im2col,
                                    conv2d_forward_im2col, dx_by_col2im, dx_by_transposed_convolution, field_rows)
from volnet.ops.conv_reference import conv2d_backward_reference
from volnet.ops.geometry import output_size, pair
from volnet.ops.layout import pad_channel_last, window_view


@pytest.mark.parametrize("n, depth, size, filters, f, stride, pad", [
    (1, 3, 7, 4, 3, 2, 1), (2, 2, 5, 3, 2, 1, 0), (1, 1, 6, 2, 3, 3, 0), (3, 4, 4, 5, 1, 1, 0), (1, 3, 9, 2, 5, 2, 2)])
def test_the_notes_recipe_reproduces_the_convolution(n, depth, size, filters, f, stride, pad):
    rng = np.random.default_rng(depth * 100 + size)
    x = rng.standard_normal((n, depth, size, size))
    w = rng.standard_normal((filters, depth, f, f))
    b = rng.standard_normal(filters)
    oh = output_size(size, f, stride, pad)
    x_col = im2col(x, (f, f), (oh, oh), (stride, stride), (pad, pad), layout="notes")
    assert x_col.shape == (depth * f * f, n * oh * oh)
    out = w.reshape(filters, -1) @ x_col + b[:, None]
    reference, _ = conv2d_forward_reference(x, w, b, stride=stride, pad=pad)
    # (K, N·OH·OW) -> (N, K, OH, OW); float64 sums of a few terms agree to rounding
    np.testing.assert_allclose(out.reshape(filters, n, oh, oh).transpose(1, 0, 2, 3), reference, atol=1e-12)


def test_column_k_is_the_field_of_output_k_in_depth_row_column_order():
    x = np.arange(2 * 4 * 4, dtype=float).reshape(1, 2, 4, 4)
    x_col = im2col(x, (2, 2), (3, 3), (1, 1), (0, 0), layout="notes")
    for k in range(9):
        i, j = divmod(k, 3)
        np.testing.assert_array_equal(x_col[:, k], x[0, :, i:i + 2, j:j + 2].ravel())


def test_volnet_rows_hold_the_same_fields_in_another_order():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3, 5, 5))
    rows = im2col(x, (3, 3), (3, 3), (1, 1), (0, 0))
    notes = im2col(x, (3, 3), (3, 3), (1, 1), (0, 0), layout="notes")
    # rows are (fh, fw, d); the notes' columns are (d, fh, fw)
    np.testing.assert_array_equal(rows.reshape(18, 3, 3, 3).transpose(3, 1, 2, 0).reshape(27, 18), notes)
    # and the notes' recipe against volnet's rows is wrong, which is why the layout is named
    w = rng.standard_normal((4, 3, 3, 3))
    assert not np.allclose(w.reshape(4, -1) @ rows.T, w.reshape(4, -1) @ notes)


def test_the_notes_alexnet_shapes():
    x = np.zeros((1, 3, 227, 227), dtype=np.float32)
    oh = output_size(227, 11, 4, 0)
    assert oh == 55
    x_col = im2col(x, (11, 11), (oh, oh), (4, 4), (0, 0), layout="notes")
    assert x_col.shape == (363, 3025)
    assert (np.zeros((96, 363), np.float32) @ x_col).shape == (96, 3025)


def test_an_unknown_layout_is_named():
    with pytest.raises(ValueError, match="layout must be 'rows'.*'notes'.*got 'columns'"):
        im2col(np.zeros((1, 1, 3, 3)), (2, 2), (2, 2), (1, 1), (0, 0), layout="columns")


def test_col2im_is_the_adjoint_of_im2col():
    # <im2col(x), c> = <x, col2im(c)> for every x and c: col2im is im2col's transpose
    rng = np.random.default_rng(5)
    x = rng.standard_normal((2, 3, 7, 6))
    args = ((3, 2), (3, 3), (2, 2), (1, 1))
    cols = im2col(x, *args)
    c = rng.standard_normal(cols.shape)
    np.testing.assert_allclose(np.sum(cols * c), np.sum(x * col2im(c, x.shape, *args)), rtol=1e-12)


@pytest.mark.parametrize("case", [c for c in CASES if c[10] == 1], ids=case_id)
def test_the_running_convolution_is_im2col_times_the_filter_matrix(case):
    # what docs/backprop.md writes, out = im2col(x) @ W + b and dx = col2im(dout @ Wᵀ), is
    # what conv2d_forward_im2col and its backward compute, chunk by chunk
    x, w, b, hyper = random_case(case)
    stride, pad, dilation = (pair(hyper[key]) for key in ("stride", "pad", "dilation"))
    out, cache = conv2d_forward_im2col(x, w, b, **hyper)
    n, k, oh, ow = out.shape
    filter_matrix = w.transpose(2, 3, 1, 0).reshape(-1, k)
    cols = im2col(x, w.shape[2:], (oh, ow), stride, pad, dilation)
    np.testing.assert_allclose(out, (cols @ filter_matrix + b).reshape(n, oh, ow, k).transpose(0, 3, 1, 2),
                               rtol=1e-12, atol=1e-12)
    dout = np.random.default_rng(1).standard_normal(out.shape)
    dout_rows = dout.transpose(0, 2, 3, 1).reshape(-1, k)
    dx, dw, db = conv2d_backward_im2col(dout, cache)
    np.testing.assert_allclose(dx, col2im(dout_rows @ filter_matrix.T, x.shape, w.shape[2:], (oh, ow), stride, pad,
                                          dilation), rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(dw, (cols.T @ dout_rows).reshape(*w.shape[2:], w.shape[1], k).transpose(3, 2, 0, 1),
                               rtol=1e-10, atol=1e-10)
    fields = window_view(pad_channel_last(x, pad), w.shape[2:], (oh, ow), stride, dilation)
    np.testing.assert_array_equal(field_rows(fields), cols)


@pytest.mark.parametrize("case", [c for c in CASES if pair(c[7]) == (1, 1) and c[8] <= min(c[5], c[6]) - 1],
                         ids=case_id)
def test_both_ways_of_computing_dx_agree(case):
    # the transposed convolution and col2im are two routes to the same dx at stride 1, whichever
    # the depth rule (TRANSPOSED_MIN_DEPTH) would pick
    x, w, b, hyper = random_case(case)
    out, _ = conv2d_forward_reference(x, w, b, **hyper)
    dout = np.random.default_rng(2).standard_normal(out.shape)
    pad, dilation, groups = pair(hyper["pad"]), pair(hyper["dilation"]), hyper["groups"]
    full = tuple(d * (f - 1) - p for f, d, p in zip(w.shape[2:], dilation, pad))
    transposed = dx_by_transposed_convolution(pad_channel_last(dout, full), w, x.shape[2:], dilation, groups)
    by_col2im = dx_by_col2im(pad_channel_last(dout, (0, 0)), w, x.shape[2:], (1, 1), pad, dilation, groups, x.dtype)
    np.testing.assert_allclose(transposed, by_col2im, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("case", CASES, ids=case_id)
@pytest.mark.parametrize("in_place", [True, False], ids=["in place", "channel-last copy"])
def test_dw_reads_dout_in_place_or_from_a_channel_last_copy_alike(case, in_place, monkeypatch):
    # IN_PLACE_MIN_POSITIONS decides how dw reads an (N, K, OH, OW) dout: one product per
    # example where it lies, or a chunk's rows from a channel-last copy; both are the
    # reference's gradients, with and without dx, and so is the filter gradient alone
    monkeypatch.setattr(conv_im2col, "IN_PLACE_MIN_POSITIONS", 1 if in_place else 10 ** 9)
    x, w, b, hyper = random_case(case, seed=7)
    out, cache = conv2d_forward_im2col(x, w, b, **hyper)
    dout = np.random.default_rng(8).standard_normal(out.shape)
    dx_ref, dw_ref, db_ref = conv2d_backward_reference(dout, conv2d_forward_reference(x, w, b, **hyper)[1])
    tolerance = dict(rtol=1e-10, atol=1e-10 * max(1.0, np.abs(dw_ref).max()))
    for dout_given in (dout, np.repeat(dout, 2, axis=-1)[..., ::2]):  # contiguous and strided (N, K, OH, OW)
        dx, dw, db = conv2d_backward_im2col(dout_given, cache)
        np.testing.assert_allclose(dx, dx_ref, rtol=1e-10, atol=1e-10 * max(1.0, np.abs(dx_ref).max()))
        np.testing.assert_allclose(dw, dw_ref, **tolerance)
        np.testing.assert_allclose(db, db_ref, **tolerance)
        _, dw_only, _ = conv2d_backward_im2col(dout_given, cache, input_gradient=False)
        np.testing.assert_array_equal(dw_only, dw)
        np.testing.assert_allclose(conv2d_filter_gradient_im2col(x, dout_given, w.shape[2:], **hyper), dw_ref,
                                   **tolerance)
