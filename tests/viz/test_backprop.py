import numpy as np
import pytest

from volnet.layers import Conv2D
from volnet.ops.conv import conv2d_backward_reference, conv2d_forward_reference
from volnet.viz import style
from volnet.viz.backprop import BackpropPicture, convolution_gradients, random_backprop_inputs

# (width, height, size, stride, pad)
SWEEP = [(4, 4, 3, 1, 0), (4, 4, 2, 1, 0), (4, 4, 3, 1, 1), (5, 5, 3, 2, 1), (5, 3, 3, 2, 0), (6, 6, 2, 2, 0),
         (3, 3, 1, 1, 0)]


@pytest.mark.parametrize("width,height,size,stride,pad", SWEEP)
def test_gradients_as_convolutions_equal_the_reference_backward(width, height, size, stride, pad):
    x, weight, bias, dout = random_backprop_inputs(width, height, size, stride, pad, seed=size + 7 * pad)
    gradients = convolution_gradients(x, weight, bias, dout, stride, pad)
    _, cache = conv2d_forward_reference(x[None, None], weight[None, None], np.array([bias]), stride, pad)
    dx, dw, db = conv2d_backward_reference(dout[None, None], cache)
    # whole numbers in float64: every way of adding them up is exact
    np.testing.assert_array_equal(gradients.dw_convolution, dw[0, 0])
    np.testing.assert_array_equal(gradients.dx_convolution, dx[0, 0])
    assert gradients.db_sum == db[0]
    # and what the picture calls "volnet conv2d_backward" is the fast backward, which agrees too
    np.testing.assert_array_equal(gradients.dw, dw[0, 0])
    np.testing.assert_array_equal(gradients.dx, dx[0, 0])
    assert gradients.agreement() == {"dw": True, "dx": True, "db": True}


def test_stride_spreads_dout_with_zeros_and_the_filter_is_flipped():
    x, weight, bias, dout = random_backprop_inputs(5, 5, 3, 2, 1, seed=2)
    gradients = convolution_gradients(x, weight, bias, dout, stride=2, pad=1)
    assert gradients.spread.shape == (5, 5)
    np.testing.assert_array_equal(gradients.spread[::2, ::2], dout)
    assert np.count_nonzero(gradients.spread[1::2]) == 0
    np.testing.assert_array_equal(gradients.flipped, np.rot90(weight, 2))
    assert gradients.full.shape == (5 + 2 * 2, 5 + 2 * 2)


def test_picture_shows_the_library_numbers_and_a_check_mark():
    gradients = convolution_gradients(*random_backprop_inputs())
    picture = BackpropPicture(gradients)
    grids = {name: grid for (_, name), grid in picture.grids.items()}

    def numbers(name):
        return [[text.get_text() for text in row] for row in grids[name].texts]

    def written(array):
        return [[style.number_text(v) for v in row] for row in array]

    assert numbers("volnet conv2d_backward: dw") == written(gradients.dw)
    assert numbers("volnet conv2d_backward: dx") == written(gradients.dx)
    assert numbers("dw") == written(gradients.dw_convolution)
    assert numbers("dx") == written(gradients.dx_convolution)
    texts = [text.get_text() for text in picture.figure.axes[0].texts]
    assert texts.count("✓ agree") == 3
    assert any(t.startswith("db = ") and t.endswith(f" = {style.number_text(gradients.db_sum)}") for t in texts)
    assert f"volnet conv2d_backward: db = {style.number_text(gradients.db)}" in texts


@pytest.mark.parametrize("pad, size", [(0, 3), (1, 3), (2, 3), (1, 2)])
def test_no_text_overlaps_another(pad, size):
    # the db sum grows with dout (16 terms with pad 1): it must not run over the check mark or the labels
    picture = BackpropPicture(convolution_gradients(*random_backprop_inputs(size=size, pad=pad), stride=1, pad=pad))
    figure = picture.figure
    figure.canvas.draw()
    renderer = figure.canvas.get_renderer()
    boxes = [(t.get_text(), t.get_window_extent(renderer)) for t in figure.axes[0].texts
             if t.get_text().strip() and len(t.get_text()) > 2]
    for number, (text, box) in enumerate(boxes):
        for other, other_box in boxes[number + 1:]:
            assert not box.overlaps(other_box), (text, other)


def test_filters_that_do_not_fit_give_the_layers_error():
    with pytest.raises(ValueError) as library:
        Conv2D(1, 3, stride=2).output_shape((1, 4, 4))
    with pytest.raises(ValueError) as shown:
        random_backprop_inputs(4, 4, 3, 2, 0)
    assert str(shown.value) == str(library.value)
    with pytest.raises(ValueError, match="dout must have the output's shape"):
        convolution_gradients(np.zeros((4, 4)), np.zeros((3, 3)), 0.0, np.zeros((3, 3)))
