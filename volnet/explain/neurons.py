"""What a neuron likes: the images, and the parts of them, that excite one depth slice most.

A depth slice k of a layer's output volume is one filter's activation map: the same neuron
looking at every position. Over a set of images, each image's strongest response is
max_ij A[k, i, j], at some (i, j); the top-k images by that value show what the neuron
looks for, and the receptive field of (i, j) — the input pixels that output number can
see — shows where (Zeiler & Fergus 2014; Girshick et al. 2014).

The receptive field comes from the layers' geometry alone (volnet.models.receptive_field:
each windowed layer's F, S, P and dilation, composed along the path to the layer). For a layer
whose output is a vector (fc, global pooling, flatten) there is no position: the box is the
whole image.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from volnet.explain import pictures
from volnet.explain.probe import describe_layer, forward
from volnet.layers import Layer
from volnet.models.numbering import find_layer
from volnet.models.receptive_field import receptive_field


@dataclass(frozen=True)
class NeuronHit:
    """One image that excites the neuron: its position in the set, the activation max_ij A[k, i, j],
    where (row, column) in the activation map, and the receptive field's box (top, left, bottom, right)."""

    index: int
    activation: float
    row: int
    column: int
    box: tuple[int, int, int, int]


def top_images(model: Layer, x: np.ndarray, layer, depth: int, count: int = 9) -> list[NeuronHit]:
    """The `count` examples of x (N, D, H, W) whose strongest response in depth slice `depth` of
    `layer` is largest, strongest first.

    Args:
        model: a built model. x: examples normalised as in training.
        layer: the layer's summary number (e.g. 4 or "7.1") or the layer; any layer works:
            for a vector output (fc) `depth` picks one of its numbers.
        depth: the depth slice (a filter of a conv layer), 0-based. count: how many images.

    Raises:
        ValueError: no such layer, or a depth slice the layer does not have.
    """
    layer = layer if isinstance(layer, Layer) else find_layer(model, layer)
    shape = layer.output_shape(layer.input_shape)
    if not 0 <= depth < shape[0]:
        raise ValueError(f"{describe_layer(layer)} has {shape[0]} depth slices, 0 to {shape[0] - 1}; "
                         f"there is no depth slice {depth}")
    if count < 1:
        raise ValueError(f"the number of images must be at least 1, got {count}")
    maps = forward(model, x, layer=layer, keep=lambda out: out[:, depth].copy())
    flat = maps.reshape(len(maps), -1)
    strongest = flat.argmax(axis=1)
    values = flat[np.arange(len(flat)), strongest]
    field = receptive_field(model, layer)
    _, height, width = x.shape[1:]
    hits = []
    for index in np.argsort(-values, kind="stable")[:count]:
        row, column = np.unravel_index(strongest[index], maps.shape[1:]) if maps.ndim == 3 else (0, 0)
        box = field.box(int(row), int(column), height, width) if maps.ndim == 3 else (0, 0, height, width)
        hits.append(NeuronHit(int(index), float(values[index]), int(row), int(column), box))
    return hits


def neuron_figure(images: np.ndarray, hits: list[NeuronHit], captions: list[str], title: str):
    """Two rows: each top image with its receptive field framed, and the field cut out and enlarged.

    Args:
        images: (count, D, H, W) uint8, the images of the hits in order. hits: from top_images.
        captions: one per hit (e.g. its class and activation). title: the figure's title.
    """
    from matplotlib.patches import Rectangle

    count = len(hits)
    figure = pictures.new_figure(max(1.35 * count, 7.2), 3.6)
    axes = np.asarray(figure.subplots(2, count, squeeze=False))
    for column, (image, hit, caption) in enumerate(zip(images, hits, captions)):
        top, left, bottom, right = hit.box
        pictures.show_image(axes[0, column], image, caption)
        axes[0, column].add_patch(Rectangle((left - 0.5, top - 0.5), right - left, bottom - top, fill=False,
                                            edgecolor=pictures.FRAME, linewidth=1.6))
        pictures.show_image(axes[1, column], image[:, top:bottom, left:right])
    axes[0, 0].set_ylabel("image", fontsize=8.5)
    axes[1, 0].set_ylabel("receptive field", fontsize=8.5)
    figure.suptitle(title, fontsize=10)
    return figure

