# im2col's two layouts: volnet's rows and the CS231n notes' X_col, whose recipe
# (W_row = w.reshape(K, -1); out = W_row @ X_col + b) must reproduce the convolution exactly.
import numpy as np
import pytest

from volnet.ops import conv2d_forward_reference, im2col
from volnet.ops.geometry import output_size


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
