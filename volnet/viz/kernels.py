"""Classic image kernels, applied with volnet's own convolution.

An image kernel is a 3×3 filter of depth 1: each output pixel is the dot product of the
kernel with the 3×3 neighbourhood of the input pixel (conv2d_forward with pad 1, so the
image keeps its size). These are the hand-made cousins of the filters a ConvNet's first
layer learns. Like a conv layer, volnet slides the kernel without flipping it
(cross-correlation), so "sobel x" responds to dark-to-bright edges from left to right.
Results are shown as pixels: clipped to [0, 1], 0 black.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from volnet.ops.conv import conv2d_forward
from volnet.viz import style

PHOTO_WIDTH = 135  # pixels: about one panel of kernel_figure, so that a blur stays visible


@dataclass(frozen=True)
class Kernel:
    """A named 3×3 kernel written as scale × whole numbers (how people write blurs: 1/16 × ...)."""

    name: str
    numbers: tuple
    scale: float = 1.0
    scale_text: str = ""

    @property
    def weights(self) -> np.ndarray:
        """The kernel as a (3, 3) float64 array."""
        return np.array(self.numbers, dtype=np.float64) * self.scale


KERNELS = (
    Kernel("box blur", ((1, 1, 1), (1, 1, 1), (1, 1, 1)), 1 / 9, "1/9"),
    Kernel("Gaussian blur", ((1, 2, 1), (2, 4, 2), (1, 2, 1)), 1 / 16, "1/16"),
    Kernel("sharpen", ((0, -1, 0), (-1, 5, -1), (0, -1, 0))),
    Kernel("outline", ((-1, -1, -1), (-1, 8, -1), (-1, -1, -1))),
    Kernel("Sobel x", ((-1, 0, 1), (-2, 0, 2), (-1, 0, 1))),
    Kernel("Sobel y", ((-1, -2, -1), (0, 0, 0), (1, 2, 1))),
    Kernel("emboss", ((-2, -1, 0), (-1, 1, 1), (0, 1, 2))),
)


def apply_kernel(image, kernel) -> np.ndarray:
    """Convolve a grayscale image with a 3×3 kernel, keeping its size (pad 1).

    Args:
        image: (H, W), values in [0, 1]. kernel: (3, 3) array or a Kernel.

    Returns:
        (H, W) float64, not clipped.
    """
    weights = kernel.weights if isinstance(kernel, Kernel) else np.asarray(kernel, dtype=np.float64)
    image = np.asarray(image, dtype=np.float64)
    if image.ndim != 2:
        raise ValueError(f"apply_kernel wants a grayscale image (H, W), got shape {image.shape}")
    out, _ = conv2d_forward(image[None, None], weights[None, None], stride=1, pad=1)
    return out[0, 0]


def kernel_figure(images, titles):
    """A table: the kernels (their numbers) across the top, then each image and what every
    kernel makes of it.

    Args:
        images: grayscale images (H, W) in [0, 1], any sizes.
        titles: one name per image, e.g. "photograph", "Fashion-MNIST: Ankle boot".

    Returns:
        A matplotlib Figure.
    """
    columns = len(KERNELS) + 1
    panel = 1.45  # inches per column
    kernel_row = 1.75
    heights = [panel * image.shape[0] / image.shape[1] for image in images]
    figure = style.new_figure(columns * panel + 0.3, kernel_row + sum(heights) + 0.35 * len(images) + 0.5)
    width_in, height_in = figure.get_figwidth(), figure.get_figheight()
    figure.text(0.5, 1 - 0.08 / height_in, "Image kernels, each applied with volnet's conv2d_forward (pad 1); "
                "results clipped to [0, 1]", ha="center", va="top", fontsize=11)
    y = height_in - 0.45
    for column, kernel in enumerate(KERNELS, start=1):
        left = (0.15 + column * panel) / width_in
        axes = style.grid_axes(figure, 3.9, 4.6, rect=(left, (y - kernel_row) / height_in,
                                                        (panel - 0.1) / width_in, kernel_row / height_in))
        axes.text(0.05, 0.7, kernel.name, fontsize=10.5, fontweight="bold", va="bottom")
        style.NumberGrid(axes, np.array(kernel.numbers), 0.05, 1.0, fontsize=10)
        if kernel.scale_text:
            axes.text(0.05, 4.45, f"× {kernel.scale_text}", fontsize=10, va="bottom")
    axes = style.grid_axes(figure, 3.9, 4.6, rect=(0.15 / width_in, (y - kernel_row) / height_in,
                                                    (panel - 0.1) / width_in, kernel_row / height_in))
    axes.text(0.05, 0.7, "input", fontsize=10.5, fontweight="bold", va="bottom")
    axes.text(0.05, 2.5, "kernel →\nresult ↓", fontsize=10, va="center", linespacing=1.6)
    y -= kernel_row
    for image, title, height in zip(images, titles, heights):
        y -= 0.35
        figure.text(0.15 / width_in, (y + 0.05) / height_in, title, fontsize=10.5, va="bottom", fontweight="bold")
        results = [image] + [np.clip(apply_kernel(image, kernel), 0, 1) for kernel in KERNELS]
        for column, result in enumerate(results):
            axes = figure.add_axes(((0.15 + column * panel) / width_in, (y - height) / height_in,
                                    (panel - 0.1) / width_in, height / height_in))
            axes.imshow(result, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
            axes.set_xticks([])
            axes.set_yticks([])
        y -= height
    return figure


def save_kernel_figure(images, titles, folder, name: str = "kernels") -> list[Path]:
    """Write `name`.png into folder (see kernel_figure)."""
    return [style.save_figure(kernel_figure(images, titles), Path(folder) / f"{name}.png")]
