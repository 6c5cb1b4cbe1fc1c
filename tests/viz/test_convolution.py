import json
import re

import numpy as np
import pytest
from PIL import Image

from tests.browser import launch_chromium
from volnet.layers import Conv2D
from volnet.ops.conv import conv2d_forward_reference
from volnet.viz import style
from volnet.viz.convolution import (ConvolutionPicture, convolution_demo, image_demo_volume, random_demo_volume,
                                    save_convolution_animation)

# (width, height, depth, filters, size, stride, pad)
SWEEP = [
    (5, 5, 3, 2, 3, 2, 1),   # the CS231n demo
    (4, 4, 1, 1, 2, 1, 0),
    (6, 4, 2, 3, 3, 1, 1),   # rectangular
    (7, 7, 1, 1, 3, 2, 0),
    (5, 5, 2, 2, 3, 3, 2),
    (3, 3, 4, 1, 1, 1, 0),   # 1×1 filters
]


def small_demo(seed=0):
    x, w, b = random_demo_volume(3, 3, 1, 1, 2, seed)
    return convolution_demo(x, w, b, stride=1, pad=0)


@pytest.mark.parametrize("width,height,depth,filters,size,stride,pad", SWEEP)
def test_steps_match_volnets_reference_conv(width, height, depth, filters, size, stride, pad):
    x, w, b = random_demo_volume(width, height, depth, filters, size, seed=width + pad)
    demo = convolution_demo(x, w, b, stride, pad)
    reference, _ = conv2d_forward_reference(x[None], w, b, stride, pad)
    # one frame per output position, in (k, i, j) order
    assert [(s.filter, s.row, s.column) for s in demo.steps] == list(np.ndindex(*reference.shape[1:]))
    padded = np.pad(x, ((0, 0), (pad, pad), (pad, pad)))
    for step in demo.steps:
        assert (step.top, step.left) == (step.row * stride, step.column * stride)
        field = padded[:, step.top:step.top + size, step.left:step.left + size]
        np.testing.assert_array_equal(step.products, field * w[step.filter])
        # small integers: the written-out sum, the fast conv and the reference loops agree exactly
        assert step.total == step.value == reference[0, step.filter, step.row, step.column]
        assert step.bias == b[step.filter]


def test_the_default_demo_is_the_notes_demo():
    x, w, b = random_demo_volume()
    demo = convolution_demo(x, w, b, stride=2, pad=1)
    assert demo.out.shape == (2, 3, 3) and len(demo.steps) == 18
    assert demo.formula().splitlines()[0] == "OW = (W − F + 2P)/S + 1 = (5 − 3 + 2·1)/2 + 1 = 3"
    assert set(np.unique(x)) <= {0, 1, 2} and set(np.unique(w)) <= {-1, 0, 1}


def test_expression_writes_out_every_product_and_the_bias():
    demo = convolution_demo(*random_demo_volume(), stride=2, pad=1)
    step = demo.steps[4]
    text = step.expression()
    lines = text.splitlines()
    assert len(lines) == 1 + 3 + 1  # heading, one line per depth slice, the total
    for depth, line in enumerate(lines[1:4]):
        terms = line.split(":", 1)[1].rsplit("=", 1)[0].split("+")
        values = [float(t.strip().strip("()").replace("−", "-")) for t in terms]
        np.testing.assert_array_equal(values, step.products[depth].ravel())
    assert lines[-1].split("→")[0].rstrip().endswith(f"= {style.number_text(step.value)}")
    assert f"b{step.filter} ({style.number_text(step.bias)})" in lines[-1]


def test_frame_highlights_the_receptive_field_and_fills_the_output():
    demo = convolution_demo(*random_demo_volume(), stride=2, pad=1)
    picture = ConvolutionPicture(demo)
    for index in (0, 4, 13):
        step = demo.steps[index]
        picture.show(index)
        for grid, outline in zip(picture.inputs, picture.field_outlines):
            assert outline.get_xy() == (grid.x0 + step.left, grid.y0 + step.top)
            assert (outline.get_width(), outline.get_height()) == (3, 3)
            inside = grid.cells[step.top:step.top + 3, step.left:step.left + 3]
            assert all(cell.get_facecolor()[:3] == pytest.approx(_rgb(style.FIELD_FILL)) for cell in inside.flat)
        current = picture.outputs[step.filter]
        assert current.cells[step.row, step.column].get_facecolor()[:3] == pytest.approx(_rgb(style.RESULT_FILL))
        visible = np.array([[[t.get_visible() for t in row] for row in grid.texts] for grid in picture.outputs])
        assert visible.sum() == index + 1 and visible[step.filter, step.row, step.column]
        assert picture.caption.get_text() == step.expression()


def test_rendered_frame_shows_the_field_outline_in_the_field_colour():
    demo = convolution_demo(*random_demo_volume(), stride=2, pad=1)
    picture = ConvolutionPicture(demo)
    step = demo.steps[4]
    pixels = style.figure_to_array(picture.show(4))
    grid = picture.inputs[0]
    # the middle of the outline's top edge, data -> display coordinates (display y points up)
    x, y = picture.axes.transData.transform((grid.x0 + step.left + 1.5, grid.y0 + step.top))
    colour = pixels[pixels.shape[0] - int(round(y)), int(round(x))]
    assert np.abs(colour.astype(int) - np.array(_rgb(style.FIELD)) * 255).max() < 40


def test_gif_has_one_frame_per_output_position(tmp_path):
    demo = small_demo()
    gif, page = save_convolution_animation(demo, tmp_path)
    with Image.open(gif) as image:
        assert image.n_frames == len(demo.steps) == 4
    assert page.suffix == ".html"


def test_html_page_is_self_contained(tmp_path):
    demo = small_demo()
    _, page = save_convolution_animation(demo, tmp_path)
    text = page.read_text(encoding="utf-8")
    # nothing fetched from elsewhere: no address (base64 has no ":"), stylesheet, script file or font
    assert not re.search(r"https?:|<link|<script[^>]*\ssrc=|@import|url\(", text)
    assert len(re.findall(r"data:image/png;base64,", text)) == len(demo.steps)
    captions = json.loads(re.search(r"const captions = (\[.*?\]);", text).group(1))
    assert captions == [step.expression() for step in demo.steps]


def test_html_page_plays_and_steps_in_a_browser(tmp_path):
    sync_api = pytest.importorskip("playwright.sync_api")
    demo = small_demo()
    _, page_path = save_convolution_animation(demo, tmp_path)
    with sync_api.sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        try:
            page = browser.new_page()
            page.goto(page_path.resolve().as_uri())
            assert page.inner_text("#play") == "pause"  # it starts playing
            page.click("#play")
            page.fill("#slider", "0")
            page.dispatch_event("#slider", "input")
            page.click("#forward")
            assert page.inner_text("#counter") == f"frame 2 / {len(demo.steps)}"
            assert page.inner_text("#caption") == demo.steps[1].expression()
            page.keyboard.press("ArrowLeft")
            page.keyboard.press("ArrowLeft")  # wraps round to the last frame
            assert page.inner_text("#counter") == f"frame {len(demo.steps)} / {len(demo.steps)}"
            assert page.evaluate("document.getElementById('frame').naturalWidth") > 0
        finally:
            browser.close()


def test_hyperparameters_that_do_not_fit_give_the_layers_error():
    x, w, b = random_demo_volume()
    with pytest.raises(ValueError) as library:
        Conv2D(2, 3, stride=3, pad=1).output_shape((3, 5, 5))
    with pytest.raises(ValueError) as shown:
        convolution_demo(x, w, b, stride=3, pad=1)
    assert str(shown.value) == str(library.value)
    assert "is not a whole number" in str(shown.value) and "Try pad=2" in str(shown.value)


def test_a_picture_too_large_to_read_is_refused():
    x, w, b = random_demo_volume(width=30, height=30, depth=1, filters=1)
    with pytest.raises(ValueError, match="keeps width \\+ 2·pad ≤ 20"):
        convolution_demo(x, w, b, stride=1, pad=0)


def test_image_demo_volume_reads_brightness_as_0_to_9(tmp_path):
    pixels = np.zeros((12, 12), np.uint8)
    pixels[:, 6:] = 255
    Image.fromarray(pixels).save(tmp_path / "half.png")
    x, w, b = image_demo_volume(tmp_path / "half.png", width=6, height=6, filters=1)
    assert x.shape == (1, 6, 6) and w.shape == (1, 1, 3, 3) and b.shape == (1,)
    np.testing.assert_array_equal(x[0, :, :3], 0)
    np.testing.assert_array_equal(x[0, :, 3:], 9)


def _rgb(colour):
    return tuple(int(colour[i:i + 2], 16) / 255 for i in (1, 3, 5))
