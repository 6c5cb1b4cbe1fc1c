import numpy as np

from volnet.ops.conv import conv2d_forward_reference
from volnet.viz.images import load_image, photograph_path
from volnet.viz.kernels import KERNELS, apply_kernel, kernel_figure

BY_NAME = {kernel.name: kernel for kernel in KERNELS}


def test_kernels_are_the_classic_ones():
    assert list(BY_NAME) == ["box blur", "Gaussian blur", "sharpen", "outline", "Sobel x", "Sobel y", "emboss"]
    # blurs average (weights sum to 1), edge detectors ignore flat regions (weights sum to 0)
    for name in ("box blur", "Gaussian blur", "sharpen", "emboss"):
        assert np.isclose(BY_NAME[name].weights.sum(), 1)
    for name in ("outline", "Sobel x", "Sobel y"):
        assert BY_NAME[name].weights.sum() == 0


def test_apply_kernel_is_volnets_convolution_with_pad_1():
    image = np.random.default_rng(0).random((7, 9))
    for kernel in KERNELS:
        expected, _ = conv2d_forward_reference(image[None, None], kernel.weights[None, None], pad=1)
        np.testing.assert_allclose(apply_kernel(image, kernel), expected[0, 0], rtol=0, atol=1e-12)


def test_sobel_x_measures_the_horizontal_slope():
    # a ramp brightening by 0.1 a column: (1 + 2 + 1)·(0.1 − (−0.1)) = 0.8 inside, 0 for Sobel y
    ramp = np.tile(np.arange(6) * 0.1, (5, 1))
    np.testing.assert_allclose(apply_kernel(ramp, BY_NAME["Sobel x"])[1:-1, 1:-1], 0.8)
    np.testing.assert_allclose(apply_kernel(ramp, BY_NAME["Sobel y"])[1:-1, 1:-1], 0, atol=1e-12)
    np.testing.assert_allclose(apply_kernel(ramp, BY_NAME["box blur"])[1:-1, 1:-1], ramp[1:-1, 1:-1])


def test_figure_shows_every_kernel_on_every_image():
    photo = load_image(photograph_path(), depth=1, width=40)[0] / 255
    figure = kernel_figure([photo, np.zeros((28, 28))], ["photo", "zeros"])
    pictures = [axes for axes in figure.axes if axes.images]
    assert len(pictures) == 2 * (len(KERNELS) + 1)
    texts = {text.get_text() for axes in figure.axes for text in axes.texts}
    assert {kernel.name for kernel in KERNELS} <= texts and {"× 1/9", "× 1/16"} <= texts
    # the first column is the photograph itself, the second its box blur
    np.testing.assert_allclose(pictures[0].images[0].get_array(), photo)
    np.testing.assert_allclose(pictures[1].images[0].get_array(), np.clip(apply_kernel(photo, KERNELS[0]), 0, 1))
