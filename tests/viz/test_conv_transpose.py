import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from volnet.cli.main import main
from volnet.ops.conv_transpose import conv_transpose2d_forward_reference
from volnet.viz import style
from volnet.viz.conv_transpose import (random_transposed_volume, save_transposed_animation, stretched_input,
                                       transposed_demo)
from volnet.viz.convolution import ConvolutionPicture

# (width, height, depth, filters, size, stride, pad, output_pad)
SWEEP = [
    (3, 3, 1, 2, 3, 2, 1, 0),   # conv_arithmetic's "padding, strides, transposed": 3×3 → 5×5
    (3, 3, 1, 1, 3, 2, 0, 0),   # "no padding, strides, transposed": 3×3 → 7×7
    (2, 2, 1, 1, 3, 1, 0, 0),   # "no padding, unit strides, transposed": 2×2 → 4×4
    (3, 2, 2, 2, 3, 2, 1, 1),   # output padding, rectangular, two depth slices
    (2, 3, 1, 2, 2, 3, 0, 2),   # stride 3 with op 2
    (4, 4, 3, 1, 1, 2, 0, 1),   # 1×1 filters: the numbers spread out
    (3, 3, 1, 1, 4, 2, 3, 0),   # P = F − 1: no zeros around
]


def _rgb(hex_colour):
    return tuple(int(hex_colour[i:i + 2], 16) / 255 for i in (1, 3, 5))


@pytest.mark.parametrize("width,height,depth,filters,size,stride,pad,output_pad", SWEEP)
def test_every_frame_computes_the_ops_output(width, height, depth, filters, size, stride, pad, output_pad):
    x, w, b = random_transposed_volume(width, height, depth, filters, size, seed=width + 3 * pad)
    demo = transposed_demo(x, w, b, stride, pad, output_pad)
    out, _ = conv_transpose2d_forward_reference(x[None], w, b, stride, pad, output_pad)
    assert [(s.filter, s.row, s.column) for s in demo.steps] == list(np.ndindex(*out.shape[1:]))
    for step in demo.steps:
        # the window at (i, j) of the stretched input times the turned filter, written out
        field = demo.padded[:, step.top:step.top + size, step.left:step.left + size]
        np.testing.assert_array_equal(step.products, field * w[:, step.filter, ::-1, ::-1])
        # small integers: the written-out sum and the scatter loops agree exactly
        assert step.total == step.value == out[0, step.filter, step.row, step.column]


@pytest.mark.parametrize("width,height,depth,filters,size,stride,pad,output_pad", SWEEP[:4])
def test_the_last_frame_shows_the_ops_output(width, height, depth, filters, size, stride, pad, output_pad):
    x, w, b = random_transposed_volume(width, height, depth, filters, size, seed=1)
    demo = transposed_demo(x, w, b, stride, pad, output_pad)
    picture = ConvolutionPicture(demo)
    picture.show(len(demo.steps) - 1)
    out, _ = conv_transpose2d_forward_reference(x[None], w, b, stride, pad, output_pad)
    for k, grid in enumerate(picture.outputs):
        shown = [[text.get_text() for text in row] for row in grid.texts]
        assert shown == [[style.number_text(v) for v in row] for row in out[0, k]]
        assert all(text.get_visible() for text in grid.texts.flat)


def test_stretched_input_spreads_the_numbers_and_marks_the_zeros():
    x = np.arange(1, 7, dtype=float).reshape(1, 2, 3)
    stretched, inserted = stretched_input(x, size=3, stride=2, pad=1, output_pad=1)
    # (H − 1)·S + 1 + 2(F − 1 − P) + op = 3 + 2 + 1 rows, 5 + 2 + 1 columns
    assert stretched.shape == (1, 6, 8)
    np.testing.assert_array_equal(stretched[0, 1:4:2, 1:6:2], x[0])
    assert inserted.sum() == stretched.size - x.size
    assert not inserted[1:4:2, 1:6:2].any() and (stretched[0][inserted] == 0).all()


def test_added_zeros_are_drawn_as_padding():
    demo = transposed_demo(*random_transposed_volume(), stride=2, pad=1)
    picture = ConvolutionPicture(demo)
    picture.show(0)
    grid = picture.inputs[0]
    # away from the first frame's window, zeros between and around the numbers are grey
    for (row, column), added in np.ndenumerate(demo.inserted):
        if row >= 3 or column >= 3:
            expected = style.PADDING_FILL if added else style.CELL_FILL
            assert grid.cells[row, column].get_facecolor()[:3] == pytest.approx(_rgb(expected))


def test_formula_and_titles_name_the_transposed_rule():
    demo = transposed_demo(*random_transposed_volume(3, 2), stride=2, pad=1, output_pad=1)
    lines = demo.formula().splitlines()
    assert lines[0] == ("OW = (W − 1)·S − 2P + F + op = (3 − 1)·2 − 2·1 + 3 + 1 = 6;  "
                        "OH = (2 − 1)·2 − 2·1 + 3 + 1 = 4")
    assert lines[1] == "input stretched: S − 1 = 1 zero apart, F − 1 − P = 1 zero around, op = 1 more below and right"
    assert lines[2].endswith("stride 2, pad 1, op 1 → 6×4×2 output")
    assert demo.input_title() == "Input, stretched\n8×6×1"
    assert "scattering its filter" in demo.description() and demo.TITLE == "Transposed convolution in action"


@pytest.mark.parametrize("kwargs,message", [
    (dict(pad=3), r"draws pad ≤ F − 1 = 2; got pad 3"),
    (dict(output_pad=2), r"output_pad 2 along the height must be smaller than max\(stride, dilation\)"),
    (dict(stride=4), r"keeps \(H − 1\)·S \+ 1 \+ 2\(F − 1 − P\) \+ op ≤ 20; got 21"),
])
def test_errors_name_the_rule(kwargs, message):
    params = dict(stride=2, pad=0, output_pad=0) | kwargs
    with pytest.raises(ValueError, match=message):
        transposed_demo(*random_transposed_volume(5, 5), **params)


def test_gif_and_page_have_one_frame_per_output_number(tmp_path):
    demo = transposed_demo(*random_transposed_volume(2, 2, 1, 1, 2), stride=1, pad=0)
    gif, page = save_transposed_animation(demo, tmp_path)
    assert (gif.name, page.name) == ("conv-transposed.gif", "conv-transposed.html")
    with Image.open(gif) as image:
        assert image.n_frames == len(demo.steps) == 9
    text = page.read_text(encoding="utf-8")
    assert "Transposed convolution in action" in text
    assert len(re.findall(r"data:image/png;base64,", text)) == 9


def test_cli_show_conv_transposed(tmp_path, capsys):
    out = tmp_path / "pictures"
    code = main(["show", "conv", "--transposed", "--width", "2", "--height", "2", "--filters", "1", "--size", "2",
                 "--stride", "2", "--pad", "0", "--output-pad", "1", "--out", str(out)])
    paths = [Path(line) for line in capsys.readouterr().out.split()]
    assert code == 0 and [p.name for p in paths] == ["conv-transposed.gif", "conv-transposed.html"]
    with Image.open(paths[0]) as gif:
        assert gif.n_frames == 5 * 5  # (2 − 1)·2 + 2 + 1


@pytest.mark.parametrize("argv,message", [
    (["--output-pad", "1"], r"--output-pad has no effect without --transposed"),
    (["--transposed", "--image", "x.png"], r"--image has no effect with --transposed"),
    (["--transposed", "--output-pad", "-1"], r"--output-pad must be at least 0, got -1"),
])
def test_cli_refuses_flags_that_do_not_fit(tmp_path, capsys, argv, message):
    code = main(["show", "conv", *argv, "--out", str(tmp_path)])
    assert code == 2 and re.search(message, capsys.readouterr().err)
