"""Fooling images (Szegedy et al. 2014): a change too small to see that makes the model say
a class of our choosing.

From the image x, normalised gradient ascent on the wrong class t's score, the recipe of
CS231n assignment 3:

    repeat until the model predicts t (or `steps` run out):
        g = ∂ score_t / ∂ x;   x ← x + lr · g / ‖g‖₂

and clip to what a real image can hold (pixel 0 to 255), so the result is still a picture.
The first x the model classifies as t is kept: the smallest change this path finds. Its
size is reported in pixels (0–255 levels): the L2 norm ‖Δ‖₂ over all numbers and the
largest single change ‖Δ‖∞.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from volnet.explain import pictures
from volnet.explain.probe import check_example, class_index, probabilities, score_gradient
from volnet.layers import Layer


@dataclass
class FoolingImage:
    """The result of fooling_image.

    Attributes:
        image: (D, H, W) the changed example, normalised like the input.
        change: (D, H, W) image − the input.
        target: the class asked for. steps: gradient steps taken.
        fooled: whether the model now predicts target.
        before, after: (classes,) probabilities of the input and of the changed image.
    """

    image: np.ndarray
    change: np.ndarray
    target: int
    steps: int
    fooled: bool
    before: np.ndarray
    after: np.ndarray


def fooling_image(model: Layer, x, target, lr: float = 0.1, steps: int = 500, bounds=None,
                  class_names=None, on_step=None) -> FoolingImage:
    """Change one example x (D, H, W) until the model predicts class `target` (module doc).

    Args:
        model: a built classifier. x: one example, normalised as in training.
        target: the wrong class to reach (number or name).
        lr: the L2 length of each step, in normalised units. steps: the most steps to take.
        bounds: (low, high) model-input values of pixels 0 and 255 (pictures.pixel_range), or None.
        class_names: so that `target` can be a name.
        on_step: called with no arguments after every step (e.g. a progress bar's update), or None.

    Raises:
        ValueError: x of the wrong shape, an unknown class, the class the model already
            predicts, or lr ≤ 0 / steps < 1.
    """
    x = check_example(model, x)
    target = class_index(model, target, class_names)
    if lr <= 0 or steps < 1:
        raise ValueError(f"fooling needs lr > 0 and steps ≥ 1, got lr={lr}, steps={steps}")
    before = probabilities(model, x[None])[0]
    if int(np.argmax(before)) == target:
        label = pictures.class_label(class_names, target)
        raise ValueError(f"the model already predicts {label} ({before[target]:.0%}) for this image; "
                         f"choose another class to fool it into")
    image, taken = x.astype(np.float64), 0
    while True:
        found = score_gradient(model, image[None].astype(model.dtype), target)
        if int(np.argmax(found.scores[0])) == target or taken == steps:
            break
        gradient = found.input_gradient[0].astype(np.float64)
        image += lr * gradient / (np.linalg.norm(gradient) or 1.0)
        if bounds is not None:
            image = np.clip(image, *bounds)
        taken += 1
        if on_step is not None:
            on_step()
    image = image.astype(model.dtype)
    after = probabilities(model, image[None])[0]
    return FoolingImage(image, image - x, target, taken, int(np.argmax(after)) == target, before, after)


def pixel_change(fooling: FoolingImage, normalization=None) -> np.ndarray:
    """The change (D, H, W) in pixel levels 0–255: Δ·std·255 per channel."""
    std = 1.0 if normalization is None else np.asarray(normalization.std)[:, None, None]
    return fooling.change.astype(np.float64) * std * 255


def change_in_pixels(fooling: FoolingImage, normalization=None) -> tuple[float, float]:
    """(‖Δ‖₂, ‖Δ‖∞) of the change in pixel levels 0–255 (pixel_change)."""
    change = pixel_change(fooling, normalization)
    return float(np.linalg.norm(change)), float(np.abs(change).max())


def magnification(change: np.ndarray) -> float:
    """A round factor (1, 2, 5, 10, 20, …) that takes the 99th percentile of |change| (pixel levels)
    to about ±127 around grey, so that most of the change is visible and only the few largest
    numbers saturate."""
    typical = float(np.percentile(np.abs(change), 99)) or 1.0
    exponent = np.floor(np.log10(127 / typical))
    steps = [step * 10 ** exponent for step in (1, 2, 5, 10)]
    return float(max(1, max(step for step in steps if step <= 127 / typical)))


def fooling_figure(original: np.ndarray, fooled: np.ndarray, change: np.ndarray, captions: list[str], title: str):
    """The image, the fooled image and their difference, magnified around grey (magnification).

    Args:
        original, fooled: (D, H, W) uint8. change: (D, H, W) the difference in pixel levels.
        captions: the two titles of the images (class and probability). title: the figure's title.
    """
    figure = pictures.new_figure(7.0, 2.9)
    axes = figure.subplots(1, 3)
    pictures.show_image(axes[0], original, captions[0])
    pictures.show_image(axes[1], fooled, captions[1])
    factor = magnification(change)
    magnified = np.clip(np.rint(128 + factor * change), 0, 255).astype(np.uint8)
    pictures.show_image(axes[2], magnified, f"the change ×{factor:g}\n(grey = none)")
    figure.suptitle(title, fontsize=10.5)
    return figure
