# The scatter view of conv backward: its last frame equals conv2d_backward and the gather view,
# for several depths, filters, strides and paddings; each step adds exactly one output's share.
import numpy as np
import pytest
from PIL import Image

from volnet.cli.main import main
from volnet.viz.conv_backward import ScatterPicture, random_scatter_inputs, scatter_backward


@pytest.mark.parametrize("width, depth, filters, size, stride, pad", [
    (4, 2, 2, 2, 1, 0), (5, 3, 2, 3, 2, 1), (4, 1, 3, 3, 1, 1), (6, 2, 1, 2, 2, 0), (5, 2, 2, 3, 1, 0)])
def test_the_last_step_equals_conv2d_backward_and_the_gather_view(width, depth, filters, size, stride, pad):
    demo = scatter_backward(*random_scatter_inputs(width, width, depth, filters, size, stride, pad, seed=width),
                            stride=stride, pad=pad)
    np.testing.assert_allclose(demo.scattered_dx(), demo.dx, atol=1e-12)
    np.testing.assert_allclose(demo.gathered, demo.dx, atol=1e-12)
    np.testing.assert_allclose(demo.steps[-1].dw, demo.dw, atol=1e-12)
    np.testing.assert_allclose(demo.steps[-1].db, demo.db, atol=1e-12)
    assert all(demo.agreement().values())
    # each step changes dx only on its own receptive field, by g·w[k]
    previous = np.zeros_like(demo.padded)
    for step in demo.steps:
        change = step.dx_pad - previous
        expected = np.zeros_like(change)
        expected[:, step.top:step.top + size, step.left:step.left + size] = step.gradient * demo.weights[step.filter]
        np.testing.assert_allclose(change, expected, atol=1e-12)
        previous = step.dx_pad


def test_the_last_frame_shows_the_numbers_of_conv2d_backward():
    demo = scatter_backward(*random_scatter_inputs(), stride=1, pad=0)
    picture = ScatterPicture(demo)
    picture.show(len(demo.steps))
    np.testing.assert_array_equal(np.stack([grid.values for grid in picture.dx]), demo.dx)
    np.testing.assert_array_equal(np.stack([grid.values for grid in picture.gather]), demo.dx)
    np.testing.assert_array_equal(np.array([[grid.values for grid in row] for row in picture.dw]), demo.dw)
    assert "dx = conv2d_backward ✓" in picture.caption.get_text()


def test_the_command_writes_one_frame_per_output_and_the_end(tmp_path, capsys):
    assert main(["show", "conv-backward", "--out", str(tmp_path)]) == 0
    gif, page = capsys.readouterr().out.split()
    with Image.open(gif) as image:
        assert image.n_frames == 2 * 3 * 3 + 1
    assert "Conv backward, step by step" in open(page, encoding="utf-8").read()
