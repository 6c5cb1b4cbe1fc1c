"""What the explanation figures share: model inputs turned back into pictures, maps resized
to the image, heat maps laid over it, and figures.

A model sees normalised numbers, (x/255 − mean)/std per channel; a person sees pixels. Every
figure shows the pixels (`pixels`), and a map computed on a layer of H'×W' is stretched
to the image's H×W (`resize_map`) before it is laid over it (`show_heat`).

matplotlib is imported only when a figure is made, so that `volnet explain`'s arguments are
checked (and `volnet --help` answers) without waiting for it.
"""

from __future__ import annotations

import numpy as np

HEAT = "inferno"  # dark where nothing happens, bright where the map is large
FRAME = "#d35400"  # a receptive field framed on its image: volnet.viz.style.RESULT
SAME_CLASS, OTHER_CLASS = "#1e8449", "#c0392b"  # neighbours of the query's class, and of another


def new_figure(width: float, height: float):
    """A white figure of width×height inches whose subplots matplotlib places (volnet.viz.style.new_figure)."""
    from volnet.viz import style

    return style.new_figure(width, height, layout="constrained")


def pixels(x: np.ndarray, normalization=None) -> np.ndarray:
    """A model input (D, H, W) as the uint8 picture it came from: (x·std + mean)·255, clipped to 0..255."""
    x = np.asarray(x, dtype=np.float64)
    if normalization is not None:
        x = x * np.asarray(normalization.std)[:, None, None] + np.asarray(normalization.mean)[:, None, None]
    return np.clip(np.rint(x * 255), 0, 255).astype(np.uint8)


def pixel_range(depth: int, normalization=None) -> tuple[np.ndarray, np.ndarray]:
    """The model-input values of pixel 0 and pixel 255 per channel, each (D, 1, 1): the bounds of a real image."""
    low, high = np.zeros((depth, 1, 1)), np.ones((depth, 1, 1))
    if normalization is None:
        return low, high
    mean, std = (np.asarray(v, dtype=np.float64)[:, None, None] for v in (normalization.mean, normalization.std))
    return (low - mean) / std, (high - mean) / std


def resize_map(values: np.ndarray, height: int, width: int) -> np.ndarray:
    """Stretch a map (h, w) to (height, width) by bilinear interpolation between cell centres,
    as when a layer's h×w activation grid is laid over the H×W image it came from."""
    values = np.asarray(values, dtype=np.float64)
    h, w = values.shape

    def positions(size, target):
        # the centre of target pixel t lies at (t + 0.5)·size/target − 0.5 in source cells
        return np.clip((np.arange(target) + 0.5) * size / target - 0.5, 0, size - 1)

    rows, columns = positions(h, height), positions(w, width)
    stretched = np.stack([np.interp(columns, np.arange(w), row) for row in values])
    return np.stack([np.interp(rows, np.arange(h), column) for column in stretched.T], axis=1)


def scaled(values: np.ndarray) -> np.ndarray:
    """values/max: a non-negative map on [0, 1] (all zeros stays zeros)."""
    values = np.asarray(values, dtype=np.float64)
    top = values.max()
    return values / top if top > 0 else values


def show_image(axes, image: np.ndarray, title: str | None = None):
    """Draw a uint8 picture (D, H, W), grey or colour, without ticks."""
    image = np.asarray(image)
    if image.shape[0] == 1:
        axes.imshow(image[0], cmap="gray", vmin=0, vmax=255, interpolation="nearest")
    else:
        axes.imshow(image.transpose(1, 2, 0), interpolation="nearest")
    plain(axes, title)


def show_heat(axes, heat: np.ndarray, image: np.ndarray | None = None, title: str | None = None,
              alpha: float = 0.55):
    """Draw a non-negative map (H, W), scaled to its maximum, alone or over a picture (D, H, W).

    Returns:
        The image artist of the map (for a colour bar).
    """
    if image is not None:
        grey = np.asarray(image, dtype=np.float64).mean(axis=0)
        axes.imshow(grey, cmap="gray", vmin=0, vmax=255, interpolation="nearest")
    shown = axes.imshow(scaled(heat), cmap=HEAT, vmin=0, vmax=1, interpolation="nearest",
                        alpha=None if image is None else alpha)
    plain(axes, title)
    return shown


def show_signed(axes, values: np.ndarray, title: str | None = None):
    """Draw a signed map (H, W) with zero white, symmetric about zero (volnet.viz.style's diverging
    map); returns the artist."""
    from volnet.viz import style

    low, high = style.signed_limits(values)
    shown = axes.imshow(values, cmap=style.SIGNED_MAP, vmin=low, vmax=high, interpolation="nearest")
    plain(axes, title)
    return shown


def plain(axes, title: str | None = None):
    """No ticks; a small title when given."""
    axes.set_xticks([])
    axes.set_yticks([])
    if title:
        axes.set_title(title, fontsize=9)


def class_label(class_names, number: int) -> str:
    """A class as figures write it: its name, or "class 3" when the model has no names."""
    return str(class_names[number]) if class_names is not None else f"class {number}"
