# The im2col picture: its matrices are volnet's numbers, column k is the field of output k,
# the product is the convolution, and the notes' AlexNet shapes come out as the notes say.
import itertools

import numpy as np
import pytest
from matplotlib.colors import to_hex

from volnet.cli.main import main
from volnet.ops import conv2d_forward_reference
from volnet.viz import style
from volnet.viz.im2col import (ALEXNET, Im2colPicture, Im2colShapes, im2col_demo, im2col_shapes_figure,
                               random_im2col_inputs)

LAYERS = [(w, d, k, f, s, p) for w, d, k, f, s, p in itertools.product((3, 4, 5), (1, 2), (1, 3), (1, 2, 3), (1, 2),
                                                                        (0, 1))
          if f <= w + 2 * p and (w - f + 2 * p) % s == 0 and d * f * f <= 27 and ((w - f + 2 * p) // s + 1) ** 2 <= 25]
LAYERS = LAYERS[::6]  # every sixth: each picture takes a while to lay out


@pytest.mark.parametrize("width, depth, filters, size, stride, pad", LAYERS)
def test_column_k_of_the_picture_is_the_field_of_output_k(width, depth, filters, size, stride, pad):
    x, weights, bias = random_im2col_inputs(width, width, depth, filters, size, seed=width + depth)
    demo = im2col_demo(x, weights, bias, stride, pad)
    picture = Im2colPicture(demo)
    out_width = demo.shapes.out_width
    for k in range(demo.shapes.positions):
        i, j = divmod(k, out_width)
        field = demo.padded[:, i * stride:i * stride + size, j * stride:j * stride + size]
        np.testing.assert_array_equal(picture.x_col.values[:, k], field.ravel())
    # the row of filter f is filter f stretched out the same way, and the product is volnet's convolution
    np.testing.assert_array_equal(picture.w_row.values, weights.reshape(filters, -1))
    reference, _ = conv2d_forward_reference(x[None], weights, bias, stride=stride, pad=pad)
    np.testing.assert_allclose(picture.product.values.reshape(reference.shape[1:]), reference[0], atol=1e-12)
    np.testing.assert_allclose(np.stack([grid.values for grid in picture.outputs]), reference[0], atol=1e-12)


def test_the_highlighted_cells_are_the_field_its_column_and_the_filters_row():
    x, weights, bias = random_im2col_inputs()
    demo = im2col_demo(x, weights, bias)
    picture = Im2colPicture(demo)
    picture.show(5, 1)
    field = to_hex(style.FIELD_FILL)

    def painted(grid, colour):
        return np.array([[to_hex(cell.get_facecolor()) == colour for cell in row] for row in grid.cells])

    i, j = divmod(5, 3)
    expected = np.zeros((4, 4), dtype=bool)
    expected[i:i + 2, j:j + 2] = True
    for grid in picture.inputs:
        np.testing.assert_array_equal(painted(grid, field), expected)
    columns = np.zeros((8, 9), dtype=bool)
    columns[:, 5] = True
    np.testing.assert_array_equal(painted(picture.x_col, field), columns)
    assert painted(picture.w_row, to_hex(style.RESULT_FILL))[1].all()
    assert "W_row[1] · X_col[:, 5] + b1" in picture.caption.get_text()
    assert f"= {style.number_text(demo.product[1, 5])}   → out[1, 1, 2]" in picture.caption.get_text()


def test_the_notes_alexnet_shapes_and_memory():
    shapes = Im2colShapes.of(**ALEXNET)
    assert (shapes.out_width, shapes.out_height, shapes.field_numbers, shapes.positions) == (55, 55, 363, 3025)
    text = "\n".join(shapes.lines())
    assert "[363 × 3025]" in text and "[96 × 363]" in text and "[96 × 3025]" in text and "55×55×96" in text
    assert "363·3,025 = 1,098,075 numbers (4.2 MiB as float32)" in text and "154,587" in text
    assert "7.1 times" in text
    assert 'layout="notes"' in shapes.layouts() and "[3025 × 363]" in shapes.layouts()
    figure = im2col_shapes_figure(shapes, 1000, 5)
    assert any("X_col [363 × 3,025]" in t.get_text() for t in figure.axes[0].texts)


def test_too_large_to_write_out_points_to_the_shape_picture():
    x, weights, bias = random_im2col_inputs(9, 9, 1, 1, 2)
    with pytest.raises(ValueError, match="--by-shape"):
        im2col_demo(x, weights, bias)


def test_the_command(tmp_path, capsys):
    assert main(["show", "im2col", "--out", str(tmp_path)]) == 0
    assert main(["show", "im2col", "--alexnet", "--out", str(tmp_path)]) == 0
    assert main(["show", "im2col", "tiny", "--layer", "1", "--out", str(tmp_path / "tiny")]) == 0
    assert capsys.readouterr().out.split() == [str(tmp_path / "im2col.png"), str(tmp_path / "im2col-alexnet.png"),
                                               str(tmp_path / "tiny" / "im2col.png")]
    assert main(["show", "im2col", "tiny", "--layer", "2", "--out", str(tmp_path)]) == 2
    assert "no conv layer 2; its conv layers, numbered as `volnet summary` numbers them, are: 1" in \
        capsys.readouterr().err
    assert main(["show", "im2col", "--alexnet", "--size", "3", "--out", str(tmp_path)]) == 2
    assert main(["show", "im2col", "--at", "9", "--out", str(tmp_path)]) == 2
    assert "--at must be below OH·OW = 9" in capsys.readouterr().err
