"""Class model visualisation (Simonyan et al. 2014; Yosinski et al. 2015): the image the net
finds most "class c", made by gradient ascent from a blank image.

    I* = argmax_I  score_c(I) − λ‖I‖²

with the recipe of CS231n assignment 3 (network visualisation), step by step:
    1. shift the image by a random (dx, dy) of at most `jitter` pixels (np.roll), so that
       no pattern can rely on exact pixel positions;
    2. g = ∂ score_c / ∂ I − 2λ I; step I += lr · g / ‖g‖₂ (a normalised step: lr is the
       step's L2 length, whatever the scale of the scores);
    3. shift back, and clip every pixel to what a real image can hold (pixel 0 to 255);
    4. every `blur_every` steps, blur with a Gaussian of σ = `blur_sigma` pixels, which
       keeps the high frequencies that no real image has from taking over.
The image starts blank: every pixel at the training mean, 0 after normalisation.

Defaults (DEFAULTS): 200 steps, lr 2.0, λ = 1e-3, jitter 2 pixels, blur σ = 0.5 every 10
steps. The assignment's 100 steps of lr 25 and jitter 16 are for 224×224×3 images; a step of
L2 length 25 over 224·224·3 numbers moves each about as far as a step of 2 over 28·28.
"""

from __future__ import annotations

import math

import numpy as np

from volnet.explain import pictures
from volnet.explain.probe import class_index, score_gradient
from volnet.layers import Layer

DEFAULTS = {"steps": 200, "lr": 2.0, "l2": 1e-3, "jitter": 2, "blur_every": 10, "blur_sigma": 0.5}


def gaussian_blur(image: np.ndarray, sigma: float) -> np.ndarray:
    """Each depth slice of image (D, H, W) convolved with a Gaussian of σ pixels (radius ⌈3σ⌉,
    edges mirrored), along the height and then the width."""
    radius = max(1, math.ceil(3 * sigma))
    taps = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2)
    taps /= taps.sum()
    padded = np.pad(image, ((0, 0), (radius, radius), (radius, radius)), mode="reflect")
    _, height, width = image.shape
    rows = sum(tap * padded[:, k:k + height, :] for k, tap in enumerate(taps))
    return sum(tap * rows[:, :, k:k + width] for k, tap in enumerate(taps))


def class_visualisation(model: Layer, target, steps: int = DEFAULTS["steps"], lr: float = DEFAULTS["lr"],
                        l2: float = DEFAULTS["l2"], jitter: int = DEFAULTS["jitter"],
                        blur_every: int = DEFAULTS["blur_every"], blur_sigma: float = DEFAULTS["blur_sigma"],
                        bounds=None, seed: int = 0, class_names=None, on_step=None) -> np.ndarray:
    """The image (D, H, W) that gradient ascent on class `target`'s score makes (module doc).

    Args:
        model: a built classifier.
        target: the class (number or name).
        steps, lr, l2, jitter, blur_every, blur_sigma: the recipe's settings (module doc).
        bounds: (low, high), the model-input values of pixels 0 and 255, each broadcastable
            to (D, H, W) (volnet.explain.pictures.pixel_range); None leaves pixels unclipped.
        seed: seeds the jitter.
        class_names: so that `target` can be a name.
        on_step: called with no arguments after every step (e.g. a progress bar's update), or None.

    Raises:
        ValueError: an unknown class, or a setting out of range.
    """
    target = class_index(model, target, class_names)
    if steps < 1 or lr <= 0 or l2 < 0 or jitter < 0 or blur_every < 1 or blur_sigma <= 0:
        raise ValueError(f"class visualisation needs steps ≥ 1, lr > 0, l2 ≥ 0, jitter ≥ 0, blur every ≥ 1 "
                         f"steps and blur σ > 0; got steps={steps}, lr={lr}, l2={l2}, jitter={jitter}, "
                         f"blur_every={blur_every}, blur_sigma={blur_sigma}")
    rng = np.random.default_rng(seed)
    image = np.zeros(model.input_shape, dtype=np.float64)
    for step in range(1, steps + 1):
        shift = tuple(int(s) for s in rng.integers(-jitter, jitter + 1, size=2))
        shifted = np.roll(image, shift, axis=(1, 2))
        gradient = score_gradient(model, shifted[None].astype(model.dtype), target).input_gradient[0]
        gradient = gradient.astype(np.float64) - 2 * l2 * shifted
        norm = np.linalg.norm(gradient)
        if norm > 0:
            shifted += lr * gradient / norm
        image = np.roll(shifted, (-shift[0], -shift[1]), axis=(1, 2))
        if bounds is not None:
            image = np.clip(image, *bounds)
        if step % blur_every == 0:
            image = gaussian_blur(image, blur_sigma)
        if on_step is not None:
            on_step()
    return image.astype(model.dtype)


def class_visualisation_figure(images: list[np.ndarray], titles: list[str], title: str):
    """One picture per class, in a grid.

    Args:
        images: uint8 pictures (D, H, W), one per class. titles: one line under each,
            e.g. "Sneaker  P = 99 %". title: the figure's title (the recipe's settings).
    """
    columns = min(len(images), 5)
    rows = math.ceil(len(images) / columns)
    figure = pictures.new_figure(max(1.75 * columns, 6.4), 1.95 * rows + 0.7)
    axes = np.atleast_1d(figure.subplots(rows, columns)).ravel()
    for axis, image, caption in zip(axes, images, titles):
        pictures.show_image(axis, image, caption)
    for axis in axes[len(images):]:
        axis.set_axis_off()
    figure.suptitle(title, fontsize=10)
    return figure
