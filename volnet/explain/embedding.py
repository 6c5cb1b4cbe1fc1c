"""A map of what the net learned: the penultimate codes of many images laid out in 2-D.

PCA (in NumPy): centre the codes (N, F), take the singular value decomposition
X − mean = U Σ Vᵀ, and keep the first two columns of U Σ — the two directions along which
the codes vary most; the explained share of the variance is σ_k² / Σ σ².

t-SNE (van der Maaten & Hinton 2008; the CS231n notes' embedding of CNN codes) keeps
neighbours next to each other rather than distances, so classes the net separates show up
as islands. It comes from scikit-learn, an optional extra: pip install "volnet[explain]".
"""

from __future__ import annotations

import numpy as np

from volnet.explain import pictures

THUMBNAIL_ZOOM = 0.9  # a 28×28 thumbnail is drawn 25 screen pixels wide at 100 dpi


def pca(codes: np.ndarray, dims: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """The codes (N, F) projected on their first `dims` principal directions: (N, dims), and
    the share of the variance each direction explains, (dims,).

    Raises:
        ValueError: fewer than 2 codes, or dims not 1 to min(N, F).
    """
    codes = np.asarray(codes, dtype=np.float64).reshape(len(codes), -1)
    if len(codes) < 2 or not 1 <= dims <= min(codes.shape):
        raise ValueError(f"PCA of {codes.shape[0]} codes of {codes.shape[1]} numbers can keep 1 to "
                         f"{min(codes.shape)} directions (and needs at least 2 codes); got dims={dims}")
    centred = codes - codes.mean(axis=0)
    left, singular, _ = np.linalg.svd(centred, full_matrices=False)
    variance = singular ** 2
    return left[:, :dims] * singular[:dims], variance[:dims] / (variance.sum() or 1.0)


def tsne(codes: np.ndarray, seed: int = 0, perplexity: float = 30.0) -> np.ndarray:
    """The codes (N, F) embedded in 2-D by scikit-learn's t-SNE (PCA initialisation): (N, 2).

    Raises:
        ValueError: scikit-learn is not installed (the message says how to add it), or the
            perplexity is not below N.
    """
    try:
        from sklearn.manifold import TSNE
        from threadpoolctl import threadpool_limits
    except ImportError:
        raise ValueError('t-SNE needs scikit-learn, which is not installed: pip install "volnet[explain]" '
                         "(or use PCA, which needs nothing more)") from None
    codes = np.asarray(codes, dtype=np.float64).reshape(len(codes), -1)
    if not 0 < perplexity < len(codes):
        raise ValueError(f"t-SNE's perplexity must be above 0 and below the number of codes ({len(codes)}), "
                         f"got {perplexity}")
    # one thread: scikit-learn's OpenMP and BLAS threads, spinning on a busy machine, made 120 codes take
    # 48 s instead of 0.7 s (2 loaded cores)
    with threadpool_limits(1):
        return TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed).fit_transform(codes)


def spread_out(points: np.ndarray, count: int) -> np.ndarray:
    """Indices of up to `count` points that lie far apart (greedy farthest-point choice, from
    the point nearest the centre), for thumbnails that do not cover each other."""
    points = np.asarray(points, dtype=np.float64)
    chosen = [int(np.argmin(((points - points.mean(axis=0)) ** 2).sum(axis=1)))]
    nearest = ((points - points[chosen[0]]) ** 2).sum(axis=1)
    while len(chosen) < min(count, len(points)):
        chosen.append(int(np.argmax(nearest)))
        nearest = np.minimum(nearest, ((points - points[chosen[-1]]) ** 2).sum(axis=1))
    return np.asarray(chosen)


def embedding_figure(points: np.ndarray, labels: np.ndarray, class_names, images: np.ndarray | None, title: str,
                     axis_names=("1", "2"), thumbnails: int = 40):
    """The points (N, 2) coloured by class, with some drawn as their image.

    Args:
        points: (N, 2). labels: (N,) class numbers. class_names: one per class, or None.
        images: (N, D, H, W) uint8 for the thumbnails, or None. title: the figure's title.
        axis_names: the names of the two axes (e.g. "PC 1 (23 % of the variance)").
        thumbnails: how many images to draw (spread_out picks them), framed in their class's colour.
    """
    from matplotlib.colors import Normalize
    from matplotlib.offsetbox import AnnotationBbox, OffsetImage

    figure = pictures.new_figure(8.6, 6.6)
    axes = figure.subplots()
    palette = _palette(int(labels.max()) + 1)
    for number in np.unique(labels):
        where = labels == number
        axes.scatter(points[where, 0], points[where, 1], s=7, color=palette[number], alpha=0.65,
                     label=pictures.class_label(class_names, int(number)), linewidths=0)
    if images is not None and thumbnails:
        for index in spread_out(points, thumbnails):
            picture = images[index]
            shown = picture[0] if picture.shape[0] == 1 else picture.transpose(1, 2, 0)
            zoom = THUMBNAIL_ZOOM * 28 / max(shown.shape[:2])
            box = OffsetImage(shown, cmap="gray", norm=Normalize(0, 255), zoom=zoom)
            axes.add_artist(AnnotationBbox(box, points[index], frameon=True, pad=0.1,
                                           bboxprops={"edgecolor": palette[labels[index]], "linewidth": 1.6}))
    axes.set_xlabel(axis_names[0])
    axes.set_ylabel(axis_names[1])
    axes.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize=8.5, markerscale=2.5, frameon=False)
    axes.set_title(title, fontsize=10.5)
    return figure


def _palette(count: int) -> list:
    from matplotlib import colormaps

    colours = colormaps["tab10" if count <= 10 else "tab20"]
    return [colours(k % colours.N) for k in range(count)]
