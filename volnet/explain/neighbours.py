"""Nearest neighbours in what the net computes versus in pixels (the CS231n notes' "visualizing
the representation"; Krizhevsky et al. 2012, figure 4).

The penultimate codes are the input of the last layer — the vector the final fully-connected
layer turns into class scores (64 numbers for the "tiny" preset). Two images whose codes are
close are the same to the classifier. In pixel space a shirt's neighbours are whatever has
its bright pixels in the same places; in code space they are shirts, in other poses and
shades: the net has learned which differences do not matter.

Distances are Euclidean, ‖a − b‖₂, over the flattened pixels (normalised as the model sees
them) or over the codes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from volnet.explain import pictures
from volnet.explain.probe import forward
from volnet.layers import Layer, Sequential


def penultimate_codes(model: Layer, x: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """The codes (N, F) that the last layer receives, for examples x (N, D, H, W), in inference mode.

    Raises:
        ValueError: the model is not a Sequential of at least two layers.
    """
    if not isinstance(model, Sequential) or len(model) < 2:
        raise ValueError(f"penultimate codes need a model of at least two layers in a row (a Sequential); "
                         f"got {model.label()}")
    codes = forward(model, x, batch_size, layer=model.layers[-2])
    return codes.reshape(len(codes), -1)


@dataclass(frozen=True)
class Neighbours:
    """The k nearest examples of one query: their indices (nearest first) and distances, (k,) each."""

    indices: np.ndarray
    distances: np.ndarray


def nearest_neighbours(query: np.ndarray, pool: np.ndarray, count: int = 8, exclude: int | None = None) -> Neighbours:
    """The `count` rows of pool (N, F) nearest to query (F,), by ‖pool[n] − query‖₂; row
    `exclude` (the query itself, when it is in the pool) is left out.

    Raises:
        ValueError: query and pool of different lengths, or count not 1 to N (− 1 with exclude).
    """
    pool = np.asarray(pool, dtype=np.float64).reshape(len(pool), -1)
    query = np.asarray(query, dtype=np.float64).ravel()
    if query.size != pool.shape[1]:
        raise ValueError(f"the query has {query.size} numbers but the pool's rows have {pool.shape[1]}")
    available = len(pool) - (exclude is not None)
    if not 1 <= count <= available:
        raise ValueError(f"the number of neighbours must be 1 to {available}, got {count}")
    distances = np.sqrt(np.maximum(((pool - query) ** 2).sum(axis=1), 0))
    if exclude is not None:
        distances[exclude] = np.inf
    order = np.argsort(distances, kind="stable")[:count]
    return Neighbours(order, distances[order])


def neighbours_figure(query: np.ndarray, query_caption: str, rows: list[tuple[str, np.ndarray, list[str], list[bool]]],
                      title: str):
    """The query, then one row of neighbours per space, each framed green (same class) or red.

    Args:
        query: (D, H, W) uint8. query_caption: its title.
        rows: (the space's name, its neighbours (k, D, H, W) uint8, their captions, whether each
            has the query's class).
        title: the figure's title.
    """
    count = max(len(images) for _, images, _, _ in rows)
    figure = pictures.new_figure(1.25 * (count + 1) + 0.4, 1.7 * len(rows) + 0.6)
    axes = np.asarray(figure.subplots(len(rows), count + 1, squeeze=False))
    for row, (space, images, captions, same) in enumerate(rows):
        pictures.show_image(axes[row, 0], query, query_caption if row == 0 else None)
        axes[row, 0].set_ylabel(space, fontsize=9)
        for column, (image, caption, match) in enumerate(zip(images, captions, same), start=1):
            pictures.show_image(axes[row, column], image, caption)
            for spine in axes[row, column].spines.values():
                spine.set_edgecolor(pictures.SAME_CLASS if match else pictures.OTHER_CLASS)
                spine.set_linewidth(2.5)
    figure.suptitle(title, fontsize=10)
    return figure
