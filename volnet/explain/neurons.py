"""What a neuron likes: the images, and the parts of them, that excite one depth slice most.

A depth slice k of a layer's output volume is one filter's activation map: the same neuron
looking at every position. Over a set of images, each image's strongest response is
max_ij A[k, i, j], at some (i, j); the top-k images by that value show what the neuron
looks for, and the receptive field of (i, j) — the input pixels that output number can
see — shows where (Zeiler & Fergus 2014; Girshick et al. 2014).

The receptive field comes from the layers' geometry alone. Going through each windowed layer
(conv or pool) of window F (F_eff = d·(F − 1) + 1 when dilated), stride S and padding P,
with j the distance in input pixels between neighbouring positions so far:

    size  r ← r + (F_eff − 1)·j          start ← start − P·j          j ← j·S

starting from r = j = 1, start = 0; output (i, ·) then sees input rows
start + i·j … start + i·j + r − 1 (cut at the image's edges). Elementwise layers (ReLU, batch
norm, dropout) change nothing; a residual block counts as its body (the shortcut sees no
further). After global pooling or a fully-connected layer a neuron sees the whole image.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from volnet.explain import pictures
from volnet.explain.probe import describe_layer, forward
from volnet.models.numbering import find_layer
from volnet.layers import Layer, Residual


@dataclass(frozen=True)
class ReceptiveField:
    """The input pixels that one output position of a layer sees, per axis (height, width).

    Attributes:
        size: r, the field's side in input pixels. jump: j, input pixels between neighbouring
            output positions. start: where the field of output position 0 starts (negative
            inside the padding). whole: True after global pooling or an fc layer: the whole image.
    """

    size: tuple[int, int]
    jump: tuple[int, int]
    start: tuple[int, int]
    whole: bool = False

    def box(self, row: int, column: int, height: int, width: int) -> tuple[int, int, int, int]:
        """(top, left, bottom, right), bottom and right exclusive, of output (row, column)'s field,
        cut to an image of height × width."""
        if self.whole:
            return 0, 0, height, width
        top, left = (start + position * jump for start, position, jump in
                     zip(self.start, (row, column), self.jump))
        return (max(top, 0), max(left, 0), min(top + self.size[0], height), min(left + self.size[1], width))

    def through(self, layer: Layer) -> "ReceptiveField":
        """The field after one more layer (module doc)."""
        if self.whole:
            return self
        if isinstance(layer, Residual):
            return self.after(layer.body.layers)
        window = getattr(layer, "window", None)
        if window is None:
            # elementwise layers keep the field; global pooling and fc layers give vectors, which see everything
            volume = len(layer.output_shape(layer.input_shape)) == 3
            return self if volume else ReceptiveField(self.size, self.jump, self.start, whole=True)
        dilations = getattr(layer, "dilations", (1, 1))
        size, jump, start = [], [], []
        for axis in range(2):
            effective = dilations[axis] * (window[axis] - 1) + 1
            size.append(self.size[axis] + (effective - 1) * self.jump[axis])
            start.append(self.start[axis] - layer.pads[axis] * self.jump[axis])
            jump.append(self.jump[axis] * layer.strides[axis])
        return ReceptiveField(tuple(size), tuple(jump), tuple(start))

    def after(self, layers) -> "ReceptiveField":
        """The field after a chain of layers."""
        field = self
        for layer in layers:
            field = field.through(layer)
        return field


def receptive_field(model: Layer, layer: Layer) -> ReceptiveField:
    """The receptive field of one output position of `layer`, a layer inside `model` (module doc)."""
    return ReceptiveField((1, 1), (1, 1), (0, 0)).after(_path(model, layer))


def _path(container: Layer, target: Layer) -> list[Layer]:
    """The layers an input goes through, in order, up to and including target; the blocks that
    contain target are entered."""
    if container is target:
        return [container]
    before = []
    steps = container.body.layers if isinstance(container, Residual) else getattr(container, "layers", [])
    for step in steps:
        if step is target:
            return before + [step]
        if any(inner is target for _, inner in step.named_layers()):
            return before + _path(step, target)
        before.append(step)
    if isinstance(container, Residual) and container.projection is not None:
        return _path(container.projection, target)
    raise ValueError(f"{target.label()} is not a layer of {container.label()}")


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
        hits.append(NeuronHit(int(index), float(values[index]), int(row), int(column),
                              field.box(int(row), int(column), height, width)))
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

