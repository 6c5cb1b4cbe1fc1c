import numpy as np
import pytest
from PIL import Image

from volnet.layers import MaxPool2D
from volnet.ops.pool import pool2d_backward_reference, pool2d_forward_reference
from volnet.viz import style
from volnet.viz.pooling import PoolingPicture, pooling_demo, random_pooling_inputs, save_pooling_pictures

# (width, height, size, stride, pad)
SWEEP = [(4, 4, 2, 2, 0), (6, 4, 2, 2, 0), (5, 5, 3, 2, 1), (4, 4, 2, 1, 0), (6, 6, 3, 3, 0), (5, 5, 2, 1, 1)]


@pytest.mark.parametrize("width,height,size,stride,pad", SWEEP)
def test_winners_are_each_windows_argmax(width, height, size, stride, pad):
    x, dout = random_pooling_inputs(width, height, size, stride, pad, seed=width * 10 + pad)
    demo = pooling_demo(x, dout, size, stride, pad, "max")
    padded = np.pad(x, pad, constant_values=-np.inf)
    assert len(demo.windows) == dout.size
    for window in demo.windows:
        field = padded[window.top:window.top + size, window.left:window.left + size]
        a, b = np.unravel_index(np.argmax(field), field.shape)
        assert window.winner == (window.top + a, window.left + b)
        assert window.value == field.max() == demo.out[window.row, window.column]


@pytest.mark.parametrize("mode", ["max", "avg"])
@pytest.mark.parametrize("width,height,size,stride,pad", SWEEP)
def test_gradient_routed_window_by_window_equals_the_reference_backward(width, height, size, stride, pad, mode):
    x, dout = random_pooling_inputs(width, height, size, stride, pad, seed=3)
    demo = pooling_demo(x, dout, size, stride, pad, mode)
    _, cache = pool2d_forward_reference(x[None, None], size, stride, pad, mode)
    expected = pool2d_backward_reference(dout[None, None], cache)[0, 0]
    np.testing.assert_allclose(demo.dx, expected, rtol=0, atol=1e-12)
    gradient, received = demo.partial_gradient(len(demo.windows) - 1)
    np.testing.assert_allclose(gradient, expected, rtol=0, atol=1e-12)
    if mode == "max":
        # only winners receive anything
        winners = {(r - pad, c - pad) for r, c in (w.winner for w in demo.windows)}
        assert set(zip(*np.nonzero(received))) == winners


def test_ties_go_to_the_first_maximum_as_in_the_library():
    # a window of equal numbers: the first in row-major order wins (as PyTorch does)
    demo = pooling_demo(np.ones((2, 2)), np.ones((1, 1)))
    assert demo.windows[0].winner == (0, 0)


def test_two_by_two_stride_two_discards_three_quarters():
    x = np.array([[1, 1, 2, 4], [5, 6, 7, 8], [3, 2, 1, 0], [1, 2, 3, 4]], dtype=float)
    demo = pooling_demo(x, np.array([[10.0, 20.0], [30.0, 40.0]]))
    np.testing.assert_array_equal(demo.out, [[6, 8], [3, 4]])
    assert demo.discarded_fraction() == 0.75
    assert "75% of the inputs are discarded" in demo.summary()
    expected = np.zeros((4, 4))
    expected[1, 1], expected[1, 3], expected[2, 0], expected[3, 3] = 10, 20, 30, 40
    np.testing.assert_array_equal(demo.dx, expected)
    assert "goes to the winner only, at row 1, column 1" in demo.windows[0].expression("max")


def test_average_pooling_spreads_the_gradient_evenly():
    x, dout = random_pooling_inputs(4, 4, 2, 2, 0, seed=1)
    demo = pooling_demo(x, dout, mode="avg")
    for window in demo.windows:
        rows, columns = window.field(2)
        np.testing.assert_allclose(demo.dx[rows, columns], window.gradient / 4)
    assert demo.windows[0].winner is None and demo.discarded_fraction() == 0


def test_picture_marks_winners_and_greys_the_rest():
    x, dout = random_pooling_inputs(seed=2)
    demo = pooling_demo(x, dout)
    picture = PoolingPicture(demo)
    picture.show()
    winners = {w.winner for w in demo.windows}
    for (row, column), text in np.ndenumerate(picture.input.texts):
        colour = style.RESULT if (row, column) in winners else style.DISCARDED
        assert text.get_color() == colour
        assert (text.get_fontweight() == "bold") == ((row, column) in winners)
    outlined = {(int(o.get_y() - picture.input.y0), int(o.get_x() - picture.input.x0))
                for o in picture.winner_outlines if o.get_visible()}
    assert outlined == winners
    assert [[t.get_text() for t in row] for row in picture.dx.texts] == \
        [[style.number_text(v) for v in row] for row in demo.dx]


def test_each_frame_shows_the_gradient_so_far():
    x, dout = random_pooling_inputs(4, 4, 2, 1, 0, seed=4)  # overlapping windows
    demo = pooling_demo(x, dout, size=2, stride=1)
    picture = PoolingPicture(demo)
    for index in (0, 4, len(demo.windows) - 1):
        picture.show(index)
        window = demo.windows[index]
        assert picture.window_outline.get_xy() == (picture.input.x0 + window.left, picture.input.y0 + window.top)
        so_far, _ = demo.partial_gradient(index)
        assert [[t.get_text() for t in row] for row in picture.dx.texts] == \
            [[style.number_text(v) for v in row] for row in so_far]
        assert picture.caption.get_text() == window.expression("max")


def test_files_hold_one_frame_per_window(tmp_path):
    demo = pooling_demo(*random_pooling_inputs())
    png, gif, page = save_pooling_pictures(demo, tmp_path)
    with Image.open(gif) as image:
        assert image.n_frames == len(demo.windows) == 4
    assert png.stat().st_size > 0 and page.read_text(encoding="utf-8").count("data:image/png") == 4


def test_windows_that_do_not_fit_give_the_layers_error():
    with pytest.raises(ValueError) as library:
        MaxPool2D(3, 3).output_shape((1, 4, 4))
    with pytest.raises(ValueError) as shown:
        pooling_demo(np.zeros((4, 4)), np.zeros((1, 1)), size=3, stride=3)
    assert str(shown.value) == str(library.value)
    with pytest.raises(ValueError, match="mode must be 'max' or 'avg'"):
        pooling_demo(np.zeros((4, 4)), np.zeros((2, 2)), mode="min")
    with pytest.raises(ValueError, match="dout must have the output's shape"):
        pooling_demo(np.zeros((4, 4)), np.zeros((3, 3)))


def test_overlapping_windows_show_a_shared_winner_adding_its_gradients():
    # 3×3 windows at stride 2 overlap; the largest number sits where two windows meet, wins both,
    # and dx there is the sum of their two dout numbers, as pool2d_backward computes it
    demo = pooling_demo(*random_pooling_inputs(5, 5, 3, 2), size=3, stride=2)
    assert demo.overlapping
    shared = demo.shared_winners()
    assert list(shared.values()) == [2]
    (where,) = shared
    total = sum(w.gradient for w in demo.windows if w.winner == where)
    assert demo.dx[where] == total
    picture = PoolingPicture(demo)
    picture.show()
    # every window framed on the input and on dx
    assert sum(frame.get_visible() for frame in picture.window_frames) == 2 * len(demo.windows)
    assert f"dx = {' + '.join(str(int(w.gradient)) for w in demo.windows if w.winner == where)}" in \
        picture.caption.get_text()
