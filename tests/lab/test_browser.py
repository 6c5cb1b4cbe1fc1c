# The lab's page in a real browser (Playwright with Debian's Chromium; skipped where either is
# missing, as tests/viz does for the HTML animation): live updates, pause and resume, controls
# reaching the trainer, volnet's errors under the boxes, a conv neuron's dot product, the saliency and
# Grad-CAM overlays of a class, an upload.
import threading

import numpy as np
import pytest
from PIL import Image

from tests.browser import launch_chromium
from tests.lab.conftest import TOKEN, settled_step, wait_for

sync_api = pytest.importorskip("playwright.sync_api")
pytest.importorskip("uvicorn")

from volnet.lab import server  # noqa: E402


@pytest.fixture(scope="module")
def url(lab):
    sock = server.listening_socket("127.0.0.1", 0)
    web = server.make_server(server.create_app(lab, TOKEN))
    thread = threading.Thread(target=web.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    yield server.url_of(sock, TOKEN)
    web.should_exit = True
    thread.join(timeout=10)


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        yield browser
        browser.close()


@pytest.fixture
def page(browser, url, lab):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(url)
    page.wait_for_function("window.lab.layers !== null && window.lab.state !== null", timeout=60000)
    yield page
    page.close()
    lab.control({"action": "resume"})
    assert not errors


def step_shown(page):
    return int(page.inner_text("#step"))


def test_the_page_loads_and_updates_live(page):
    first = step_shown(page) if page.inner_text("#step") != "–" else 0
    page.wait_for_function("window.lab.updates >= 5", timeout=60000)
    page.wait_for_function(f"+document.getElementById('step').textContent > {first}", timeout=60000)
    page.wait_for_function("window.lab.points.filter(p => p.loss !== undefined).length >= 3", timeout=60000)
    assert page.locator("#cards .card").count() == 7
    assert "16×3×3×1" not in page.inner_text("#cards") and "4×3×3×1 + 4 = 40" in page.inner_text("#cards")
    page.wait_for_function("document.querySelectorAll('#feed .item').length >= 4", timeout=60000)
    assert page.locator("#confusion td").count() == 100


def test_pause_freezes_the_step_counter_and_resume_restarts_it(page, lab):
    page.click("#pause")
    wait_for(lambda: lab.paused, what="the pause")
    step = settled_step(lab)
    page.wait_for_function(f"+document.getElementById('step').textContent >= {step}", timeout=20000)
    page.wait_for_timeout(300)
    shown = step_shown(page)
    page.wait_for_timeout(2000)
    assert step_shown(page) == shown == lab.trainer.step and page.inner_text("#running") == "paused"
    assert page.inner_text("#pause") == "resume"
    page.click("#pause")
    page.wait_for_function(f"+document.getElementById('step').textContent > {shown + 2}", timeout=30000)
    assert page.inner_text("#running") == "training"


def test_a_learning_rate_change_reaches_the_trainer(page, lab):
    page.fill("#c-lr", "0.0025")
    page.fill("#c-batch", "20")
    page.click("#apply")
    wait_for(lambda: lab.trainer.optimizer.lr == 0.0025 and lab.trainer.batch_size == 20, what="the new settings")
    page.fill("#c-lr", "-3")
    page.click("#apply")
    page.wait_for_function("document.getElementById('control-error').textContent.length > 0")
    assert page.inner_text("#control-error") == "--lr must be greater than 0, got -3.0"
    assert lab.trainer.optimizer.lr == 0.0025


def test_a_bad_architecture_string_shows_volnets_error(page, lab):
    model = lab.model
    page.fill("#arch", "conv3-8 relu pool conf3-16 fc10")
    page.click("#restart")
    page.wait_for_function("document.getElementById('arch-error').textContent.length > 0")
    assert "unknown word 'conf3-16'" in page.inner_text("#arch-error")
    assert "did you mean 'conv3-16'" in page.inner_text("#arch-error")
    assert lab.model is model


def test_clicking_a_conv_neuron_shows_the_dot_product_numpy_computes(page, lab):
    page.click("#pause")
    wait_for(lambda: lab.paused, what="the pause")
    settled_step(lab)
    page.evaluate("send('look', {index: 3})")
    page.wait_for_function("window.lab.layers.title === 'test image 3'", timeout=20000)
    canvas = page.locator('.card[data-layer="4"] .activations canvas').nth(5)  # the second conv layer, filter 5
    box = canvas.bounding_box()
    row, col = 4, 9  # of its 14×14 output; each of the 14 pixels is box/14 wide on the page
    canvas.click(position={"x": (col + 0.5) * box["width"] / 14, "y": (row + 0.5) * box["height"] / 14})
    page.wait_for_selector("#probe-sum")
    shown = float(page.get_attribute("#probe-sum", "data-sum"))
    with lab.between_steps():
        x = lab.data.batch(lab.data.test.images[3][None])
        model = lab.model.eval()
        for layer in model.layers[:3]:
            x = layer.forward(x)
        conv = model.layers[3]
        padded = np.pad(x[0].astype(np.float64), ((0, 0), (1, 1), (1, 1)))
        expected = np.sum(padded[:, row:row + 3, col:col + 3] * conv.weight.data[5]) + conv.bias.data[5]
        model.train()
    assert shown == pytest.approx(expected, rel=1e-5, abs=1e-6)
    text = page.inner_text("#drill-body")
    assert "filter 5, output row 4, column 9" in text and "bias" in text
    assert page.locator(".ring").count() == 4  # the receptive field marked on each of the 4 input slices


def test_a_class_bar_shows_its_saliency_and_grad_cam_over_the_input(page, lab):
    page.locator("#subject-top .bar").first.click()
    page.wait_for_selector("#saliency")
    page.wait_for_selector("#grad-cam-overlay")
    text = page.inner_text("#drill-body")
    assert "Saliency of class" in text and "Grad-CAM at layer 4 (conv 3×3, 6 filters" in text
    # the overlays are the input's size, the coarse map the last conv layer's 14×14
    sizes = page.evaluate("['saliency-overlay', 'grad-cam-overlay', 'grad-cam'].map(id => "
                          "[document.getElementById(id).width, document.getElementById(id).height])")
    assert sizes == [[28, 28], [28, 28], [14, 14]]
    # where the map is 0 the overlay is the input's own grey; where it is largest, the heat colour dominates
    pixels = page.evaluate("""() => {
        const canvas = document.getElementById('grad-cam-overlay'), data = canvas.getContext('2d')
            .getImageData(0, 0, canvas.width, canvas.height).data, grey = [], red = [];
        for (let i = 0; i < data.length; i += 4) { grey.push(data[i] === data[i + 1] && data[i + 1] === data[i + 2]);
                                                   red.push(data[i] - data[i + 2]); }
        return { grey: grey.filter(Boolean).length, reddest: Math.max(...red) };
    }""")
    assert pixels["reddest"] > 150 and 0 < pixels["grey"] < 28 * 28


def test_an_uploaded_image_gets_a_prediction(page, lab, tmp_path):
    path = tmp_path / "shoe.png"
    Image.fromarray(np.kron(lab.data.test.images[0][0], np.ones((4, 4), np.uint8))).save(path)
    page.set_input_files("#upload", str(path))
    page.wait_for_function("document.getElementById('upload-result').textContent.length > 0", timeout=20000)
    result = page.inner_text("#upload-result")
    assert result.startswith("shoe.png: ") and sum(name in result for name in lab.class_names) == 3
    page.wait_for_function("window.lab.layers.title === 'your image'", timeout=20000)
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not an image at all")
    page.set_input_files("#upload", str(broken))
    page.wait_for_function("document.getElementById('look-error').textContent.length > 0", timeout=20000)
    assert "the uploaded image: Pillow cannot read this file" in page.inner_text("#look-error")


def test_a_change_of_settings_is_marked_on_the_curves_and_a_restart_clears_them(page, lab):
    page.fill("#c-lr", "0.003")
    page.click("#apply")
    page.wait_for_function("window.lab.marks.some(m => m.text.includes('lr 0.003'))", timeout=20000)
    mark = page.evaluate("window.lab.marks.at(-1)")
    assert mark["step"] <= lab.trainer.step
    page.fill("#arch", "conv3-4 relu pool fc10")
    page.click("#restart")
    page.wait_for_function("window.lab.state.architecture === 'conv3-4 relu pool fc10'", timeout=20000)
    assert page.evaluate("window.lab.marks.length") == 0
    page.wait_for_function("document.querySelectorAll('#cards .card').length === 4", timeout=20000)
