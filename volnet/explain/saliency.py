"""Saliency maps (Simonyan et al. 2014) and guided backpropagation (Springenberg et al. 2015).

Saliency: how much does the score of class c move when one pixel moves? The gradient of the
class score (not of the loss, which would mix in the other classes) with respect to the
image, in inference mode, its absolute value maximised over the depth:

    M[i, j] = max_d | ∂ score_c / ∂ x[d, i, j] |            (H, W)

Guided backpropagation changes the backward pass of every ReLU: besides passing the gradient
only where the forward input was positive (as backprop does), it also passes only positive
gradients, dx = [x > 0]·max(dout, 0), so what reaches the image is what *raises* the score.
"""

from __future__ import annotations

import contextlib

import numpy as np

from volnet.explain import pictures
from volnet.explain.probe import check_example, class_index, probabilities, score_gradient
from volnet.layers import Layer, ReLU


def target_class(model: Layer, x: np.ndarray, chosen=None, class_names=None) -> int:
    """The class to explain: `chosen` (a number or a name) or, by default, the predicted one.
    x is one checked example (D, H, W)."""
    if chosen is not None:
        return class_index(model, chosen, class_names)
    return int(np.argmax(probabilities(model, x[None])[0]))


def input_gradient(model: Layer, x, chosen=None, class_names=None) -> np.ndarray:
    """∂ score_c / ∂ x for one example x (D, H, W), c = chosen or the predicted class; (D, H, W)."""
    x = check_example(model, x)
    return score_gradient(model, x[None], target_class(model, x, chosen, class_names)).input_gradient[0]


def saliency_map(model: Layer, x, chosen=None, class_names=None) -> np.ndarray:
    """M = max over depth of |∂ score_c / ∂ x| for one example x (D, H, W); returns (H, W).

    Args:
        model: a built classifier. x: one example, normalised as in training.
        chosen: the class (number or name); default: the one the model predicts.
        class_names: the model's class names, so that `chosen` can be a name.

    Raises:
        ValueError: x of the wrong shape, or an unknown class.
    """
    return np.abs(input_gradient(model, x, chosen, class_names)).max(axis=0)


def share_in_top_pixels(values: np.ndarray, share: float = 0.1) -> float:
    """How much of a non-negative map's total its largest `share` of pixels hold (1 for all of it)."""
    flat = np.sort(np.ravel(values))[::-1]
    return float(flat[:max(1, round(share * flat.size))].sum() / (flat.sum() or 1.0))


@contextlib.contextmanager
def guided_relus(model: Layer):
    """Within the block, every ReLU of the model passes back only positive gradients:
    dx = [x > 0]·max(dout, 0). Restored on leaving, also after an error."""
    relus = [layer for _, layer in model.named_layers() if isinstance(layer, ReLU)]
    for relu in relus:
        relu.backward = lambda dout, relu=relu: ReLU.backward(relu, np.maximum(dout, 0))
    try:
        yield
    finally:
        for relu in relus:
            del relu.backward


def guided_backprop(model: Layer, x, chosen=None, class_names=None) -> np.ndarray:
    """The guided-backpropagation gradient (D, H, W) of class c's score for one example x (D, H, W)
    (module doc); arguments as saliency_map."""
    x = check_example(model, x)
    target = target_class(model, x, chosen, class_names)
    with guided_relus(model):
        return score_gradient(model, x[None], target).input_gradient[0]


def gradient_picture(gradient: np.ndarray) -> np.ndarray:
    """A signed gradient (D, H, W) as a uint8 picture: grey 128 is zero, ±3 standard deviations
    reach black and white (the usual way guided backprop is shown)."""
    spread = 3 * gradient.std() or 1.0
    return np.clip(np.rint(128 + 127 * gradient / spread), 0, 255).astype(np.uint8)


def saliency_figure(image: np.ndarray, saliency: np.ndarray, title: str, guided: np.ndarray | None = None):
    """The image, its saliency map and the map over the image (and guided backprop when given).

    Args:
        image: (D, H, W) uint8. saliency: (H, W). title: e.g. "predicted: sneaker (97 %)".
        guided: (D, H, W) guided-backprop gradient, or None.
    """
    panels = 3 + (guided is not None)
    figure = pictures.new_figure(2.3 * panels, 2.9)
    axes = figure.subplots(1, panels)
    pictures.show_image(axes[0], image, "input")
    shown = pictures.show_heat(axes[1], saliency, title="saliency |∂score/∂x|\n(max over depth)")
    pictures.show_heat(axes[2], saliency, image, title="over the input")
    if guided is not None:
        pictures.show_image(axes[3], gradient_picture(guided), "guided backprop\n(grey = 0)")
    figure.colorbar(shown, ax=axes[1], shrink=0.8, label="÷ its maximum")
    figure.suptitle(title, fontsize=10.5)
    return figure
