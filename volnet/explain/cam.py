"""Class activation maps: Grad-CAM (Selvaraju et al. 2017) and CAM (Zhou et al. 2016).

Grad-CAM, for a conv layer whose output A has K activation maps of h×w:

    α_k = (1/Z) Σ_ij ∂ score_c / ∂ A[k, i, j]        (Z = h·w: the gradient, averaged per map)
    L   = ReLU( Σ_k α_k A[k] )                        (h, w)

— each activation map weighted by how much the class score gains from it, keeping only the
parts that raise the score. The map has the layer's resolution and is stretched over the
image to be looked at.

CAM needs a net that ends in global average pooling and then one fully-connected layer,
score_c = Σ_k W[c, k] · (1/Z) Σ_ij A[k, i, j] + b_c, and maps M = Σ_k W[c, k] A[k], where A
is the volume that enters the pooling. There ∂ score_c / ∂ A[k, i, j] = W[c, k]/Z, so Grad-CAM
at that volume is ReLU(M)/Z: CAM is the special case Grad-CAM generalises.

Guided Grad-CAM multiplies the stretched Grad-CAM map by guided backpropagation's gradient
(volnet.explain.saliency): where the class is, and which pixels there raise its score.
"""

from __future__ import annotations

import numpy as np

from volnet.explain import pictures
from volnet.explain.probe import check_example, conv_layer, forward, score_gradient
from volnet.models.numbering import layer_name
from volnet.explain.saliency import gradient_picture, target_class
from volnet.layers import GlobalAvgPool2D, Layer, Linear, Sequential


def grad_cam(model: Layer, x, chosen=None, layer=None, class_names=None) -> np.ndarray:
    """The Grad-CAM map (h, w) of class c at a conv layer for one example x (D, H, W) (module doc).

    Args:
        model: a built classifier. x: one example, normalised as in training.
        chosen: the class (number or name); default: the predicted one.
        layer: the conv layer's summary number (e.g. 4 or "7.1"), or the layer; default: the last conv.
        class_names: so that `chosen` can be a name.

    Raises:
        ValueError: x of the wrong shape, an unknown class, or a layer that is not a conv layer.
    """
    x = check_example(model, x)
    conv = layer if isinstance(layer, Layer) else conv_layer(model, layer)
    found = score_gradient(model, x[None], target_class(model, x, chosen, class_names), conv)
    activation, gradient = found.activation[0], found.activation_gradient[0]
    weights = gradient.mean(axis=(1, 2))
    return np.maximum(np.tensordot(weights, activation, axes=1), 0)


def cam_layers(model: Layer) -> tuple[Layer, GlobalAvgPool2D, Linear]:
    """For a net ending in GAP then FC: (the layer whose output the pooling averages, the GAP, the FC).

    Raises:
        ValueError: the model does not end in global average pooling and one fully-connected layer.
    """
    layers = model.layers if isinstance(model, Sequential) else []
    if len(layers) < 3 or not isinstance(layers[-2], GlobalAvgPool2D) or not isinstance(layers[-1], Linear):
        ending = " ".join(type(layer).__name__ for layer in layers[-2:])
        raise ValueError(f"CAM needs a model that ends in global average pooling and one fully-connected layer "
                         f"(… gap fc10); this one ends in {ending or 'no layers'}. Use Grad-CAM, which works on "
                         f"any conv layer")
    return layers[-3], layers[-2], layers[-1]


def class_activation_map(model: Layer, x, chosen=None, class_names=None) -> np.ndarray:
    """CAM's M = Σ_k W[c, k] A[k] (h, w), signed, for one example x (D, H, W) (module doc).

    Raises:
        ValueError: x of the wrong shape, an unknown class, or a model not ending in GAP + FC.
    """
    x = check_example(model, x)
    feeding, _, fc = cam_layers(model)
    target = target_class(model, x, chosen, class_names)
    activation = forward(model, x[None], layer=feeding)[0]  # CAM needs no gradient, only the maps
    return np.tensordot(fc.weight.data[target], activation, axes=1)


def stretched(cam: np.ndarray, image_shape) -> np.ndarray:
    """A layer-resolution map (h, w) stretched to the image's (H, W); image_shape is (D, H, W)."""
    return pictures.resize_map(cam, image_shape[1], image_shape[2])


def cam_figure(image: np.ndarray, cam: np.ndarray, title: str, method: str, guided: np.ndarray | None = None):
    """The image, the coarse map at the layer's resolution, the map over the image, and Guided Grad-CAM.

    Args:
        image: (D, H, W) uint8. cam: (h, w), non-negative. title: the figure's title.
        method: names the map, e.g. "Grad-CAM at layer 4 (conv 3×3, 32 filters)".
        guided: (D, H, W) guided-backprop gradient, to draw Guided Grad-CAM; or None.
    """
    panels = 3 + (guided is not None)
    figure = pictures.new_figure(2.3 * panels, 3.0)
    axes = figure.subplots(1, panels)
    pictures.show_image(axes[0], image, "input")
    h, w = cam.shape
    shown = pictures.show_heat(axes[1], cam, title=f"{method}\n{w}×{h}, the layer's grid")
    pictures.show_heat(axes[2], stretched(cam, image.shape), image, title="stretched over the input")
    if guided is not None:
        product = guided * pictures.scaled(stretched(cam, image.shape))[None]
        pictures.show_image(axes[3], gradient_picture(product), "Guided Grad-CAM\n(guided backprop × map)")
    figure.colorbar(shown, ax=axes[1], shrink=0.8, label="÷ its maximum")
    figure.suptitle(title, fontsize=10.5)
    return figure

