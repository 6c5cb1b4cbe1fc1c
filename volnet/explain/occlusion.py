"""Occlusion sensitivity (Zeiler & Fergus 2014): hide part of the image, watch the probability.

A grey square of F×F pixels is slid over the image with stride S; at each of its
OH × OW = ((H − F)/S + 1) × ((W − F)/S + 1) positions (one more at the far edge when the
stride does not land there) the model classifies the occluded image, and the map keeps the
probability of the class asked for. Where hiding the patch makes the probability fall, the
model was looking. The grey is the training set's mean pixel, 0 after normalisation, so the
patch carries no information of its own.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from volnet.explain import pictures
from volnet.explain.probe import check_example, class_index, probabilities
from volnet.layers import Layer


@dataclass
class OcclusionMap:
    """The probability of one class with the patch at each position.

    Attributes:
        probabilities: (OH, OW); entry (a, b) has the patch's top-left corner at
            (rows[a], columns[b]).
        rows, columns: the patch's top-left corners along the height and the width.
        size: F, the patch's side. target: the class. unoccluded: its probability without a patch.
        pixel_map: (H, W), each pixel's mean probability over the patch positions that cover it.
    """

    probabilities: np.ndarray
    rows: np.ndarray
    columns: np.ndarray
    size: int
    target: int
    unoccluded: float
    pixel_map: np.ndarray


def patch_corners(length: int, size: int, stride: int) -> np.ndarray:
    """The top-left corners 0, S, 2S, … of a patch of `size` along `length`, plus length − size
    when the stride does not reach the far edge, so that every pixel gets covered."""
    corners = np.arange(0, length - size + 1, stride)
    return corners if corners[-1] == length - size else np.append(corners, length - size)


def occlusion_map(model: Layer, x, target, size: int = 6, stride: int = 2, fill: float = 0.0,
                  class_names=None, batch_size: int = 128) -> OcclusionMap:
    """Slide an occluding patch over one example and map the probability of class `target`.

    Args:
        model: a built classifier. x: one example (D, H, W), normalised as in training.
        target: the class (number or name), usually the true one.
        size: F, the patch's side in pixels. stride: S, pixels between patch positions.
        fill: the value of the patch in every channel (0: the training mean).
        class_names: so that `target` can be a name.
        batch_size: occluded images classified at once.

    Raises:
        ValueError: x of the wrong shape, an unknown class, or a patch that is not 1 to H
            (and W) pixels, or a stride below 1.
    """
    x = check_example(model, x)
    target = class_index(model, target, class_names)
    _, height, width = x.shape
    if not 1 <= size <= min(height, width):
        raise ValueError(f"the occluding patch must be 1 to {min(height, width)} pixels on a side for "
                         f"{height}×{width} images, got size {size}")
    if stride < 1:
        raise ValueError(f"the patch's stride must be at least 1 pixel, got {stride}")
    rows, columns = patch_corners(height, size, stride), patch_corners(width, size, stride)
    corners = [(row, column) for row in rows for column in columns]
    found = []
    for start in range(0, len(corners), batch_size):
        # batch_size occluded copies at a time, so memory does not grow with the number of positions
        chunk = corners[start:start + batch_size]
        occluded = np.repeat(x[None], len(chunk), axis=0)
        for image, (row, column) in zip(occluded, chunk):
            image[:, row:row + size, column:column + size] = fill
        found.append(probabilities(model, occluded, batch_size)[:, target])
    found = np.concatenate(found).reshape(len(rows), len(columns))
    total, cover = np.zeros((height, width)), np.zeros((height, width))
    for (a, row), (b, column) in ((ab, cd) for ab in enumerate(rows) for cd in enumerate(columns)):
        total[row:row + size, column:column + size] += found[a, b]
        cover[row:row + size, column:column + size] += 1
    unoccluded = float(probabilities(model, x[None])[0, target])
    return OcclusionMap(found, rows, columns, size, target, unoccluded, total / cover)


def occlusion_figure(image: np.ndarray, occlusion: OcclusionMap, title: str, class_name: str):
    """The image, the probability map (low = the model needed that part) and the drop over the image.

    Args:
        image: (D, H, W) uint8. occlusion: from occlusion_map. title: the figure's title.
        class_name: the name of occlusion.target.
    """
    figure = pictures.new_figure(7.4, 2.9)
    axes = figure.subplots(1, 3)
    pictures.show_image(axes[0], image, f"input, and the grey\n{occlusion.size}×{occlusion.size} patch (top left)")
    axes[0].add_patch(_patch(occlusion.size))
    shown = axes[1].imshow(occlusion.pixel_map, cmap="viridis", vmin=0, vmax=1, interpolation="nearest")
    pictures.plain(axes[1], f"P({class_name}) with the\npatch here (was {occlusion.unoccluded:.0%})")
    figure.colorbar(shown, ax=axes[1], shrink=0.8)
    drop = np.clip(occlusion.unoccluded - occlusion.pixel_map, 0, None)
    # scaled to the largest drop, which the title gives: the middle panel shows how much, this one where
    pictures.show_heat(axes[2], drop, image, title=f"where hiding hurts most\n(brightest: P falls "
                                                   f"{100 * drop.max():.0f} points)")
    figure.suptitle(title, fontsize=10.5)
    return figure


def _patch(size: int):
    from matplotlib.patches import Rectangle

    # the patch at its first position, so the reader sees how big it is
    return Rectangle((-0.5, -0.5), size, size, facecolor="#808080", edgecolor="white", linewidth=1)
