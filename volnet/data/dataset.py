"""A labelled set of images, kept as raw bytes: the one container every loader returns.

Images stay uint8 in memory (a quarter of the float32 size); each batch is converted to
float32 in [0, 1] when it is drawn (volnet.data.batching).

Shapes:
    images  (N, D, H, W) uint8   N images of D channels (the depth of the input volume), H×W pixels
    labels  (N,) int64           class indices, 0 ≤ label < len(class_names)
"""

from __future__ import annotations

import numpy as np

from volnet.layers.base import format_shape


class Dataset:
    """Images, their labels and the names of the classes.

    Args:
        images: (N, D, H, W) uint8 array.
        labels: (N,) integer array; stored as int64 (no copy if it already is).
        class_names: one name per class; label k names class_names[k].
        name: how messages and summaries name the dataset, e.g. "fashion-mnist/train".

    Raises:
        ValueError: no images, images not (N, D, H, W), a label count that differs from the
            image count, or a label outside [0, len(class_names)).
        TypeError: images that are not uint8, or labels that are not integers.

    Example:
        >>> data = Dataset(np.zeros((4, 1, 2, 2), np.uint8), [0, 1, 0, 1], ["no", "yes"], "toy")
        >>> train, validation = data.split(0.25)
        >>> len(train), len(validation)
        (3, 1)
    """

    def __init__(self, images, labels, class_names, name: str = "dataset"):
        images, labels = np.asarray(images), np.asarray(labels)
        self.name = name
        self.class_names = [str(class_name) for class_name in class_names]
        if images.ndim != 4:
            hint = " Add the depth axis with images[:, None]." if images.ndim == 3 else ""
            raise ValueError(f"{name}: images must be (N, D, H, W), got an array of shape {images.shape}.{hint}")
        if images.dtype != np.uint8:
            raise TypeError(
                f"{name}: images must be uint8 (0..255), got {images.dtype}. "
                "Convert [0, 1] floats with (images * 255).round().astype(np.uint8)."
            )
        if len(images) == 0:
            raise ValueError(f"{name}: no images (N = 0); a dataset needs at least one example.")
        if labels.ndim != 1 or len(labels) != len(images):
            raise ValueError(
                f"{name}: {len(images)} images need {len(images)} labels (shape ({len(images)},)), "
                f"got labels of shape {labels.shape}."
            )
        if not np.issubdtype(labels.dtype, np.integer):
            raise TypeError(f"{name}: labels must be integer class indices, got {labels.dtype}.")
        if not self.class_names:
            raise ValueError(f"{name}: class_names is empty; give one name per class.")
        low, high = int(labels.min()), int(labels.max())
        if low < 0 or high >= len(self.class_names):
            raise ValueError(
                f"{name}: labels must lie in [0, {len(self.class_names)}) for {len(self.class_names)} class names, "
                f"got labels from {low} to {high}. Pass one class name per class."
            )
        self.images = images
        self.labels = labels.astype(np.int64, copy=False)

    def __len__(self) -> int:
        return len(self.images)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """(D, H, W) of one image: the input shape of a model."""
        return tuple(self.images.shape[1:])

    def __repr__(self):
        return (
            f"Dataset({self.name!r}: {len(self)} images of {format_shape(self.image_shape)}, "
            f"{len(self.class_names)} classes)"
        )

    def in_class_order(self, class_names) -> Dataset:
        """The same images with labels that index `class_names`: the same classes as this
        dataset's, in any order (a model's classes against an image folder's, which are
        sorted by name). Names match ignoring case, spaces and punctuation, since a folder
        cannot be called "T-shirt/top". No copy of the images.

        Raises:
            ValueError: the names are not those of this dataset's classes.
        """
        class_names = [str(name) for name in class_names]
        if class_names == self.class_names:
            return self
        theirs, ours = [_class_key(name) for name in class_names], [_class_key(name) for name in self.class_names]
        if sorted(theirs) != sorted(ours) or len(set(ours)) != len(ours):
            only_theirs = [name for name, key in zip(class_names, theirs) if key not in ours]
            only_ours = [name for name, key in zip(self.class_names, ours) if key not in theirs]
            raise ValueError(
                f"{self.name} has other classes than the model: the model knows {_listed(only_theirs)} "
                f"that {self.name} lacks, and {self.name} has {_listed(only_ours)} that the model lacks; "
                "its labels would be compared with the wrong classes (for an image folder, name its "
                "sub-folders after the model's classes)")
        position = {key: k for k, key in enumerate(theirs)}
        renumber = np.array([position[key] for key in ours])
        return Dataset(self.images, renumber[self.labels], class_names, self.name)

    def subset(self, indices, name: str | None = None) -> Dataset:
        """The examples at `indices`: a slice gives views (no copy), an index array copies them.

        Args:
            indices: a slice, or an integer array of positions in [0, N).
            name: the subset's name; defaults to this dataset's name.
        """
        if not isinstance(indices, slice):
            indices = np.asarray(indices)
            if not np.issubdtype(indices.dtype, np.integer) or indices.ndim != 1:
                raise TypeError(f"{self.name}: subset takes a slice or a 1-D array of integer positions, got {indices}")
            if len(indices) and (indices.min() < 0 or indices.max() >= len(self)):
                raise ValueError(
                    f"{self.name}: subset positions must lie in [0, {len(self)}), "
                    f"got positions from {indices.min()} to {indices.max()}."
                )
        return Dataset(self.images[indices], self.labels[indices], self.class_names, name or self.name)

    def split(self, fraction: float, rng: np.random.Generator | None = None) -> tuple[Dataset, Dataset]:
        """Hold out round(fraction · N) examples for validation.

        Without rng the last examples are held out and both parts are views of this
        dataset (no copy). With rng they are drawn at random; each part then gathers its
        examples (one copy in all), keeping their original order.

        Args:
            fraction: the share of examples to hold out, 0 < fraction < 1.
            rng: a np.random.Generator for a random split, or None for the last examples.

        Returns:
            (train, validation) Datasets.

        Raises:
            ValueError: a fraction that leaves either part empty.
        """
        held_out = round(fraction * len(self))
        if not 0 < held_out < len(self):
            raise ValueError(
                f"{self.name}: split fraction {fraction!r} of {len(self)} examples holds out {held_out}; "
                f"choose a fraction between {1 / len(self):.3g} and {1 - 1 / len(self):.3g} (both parts non-empty)."
            )
        if rng is None:
            train, validation = slice(0, len(self) - held_out), slice(len(self) - held_out, len(self))
        else:
            order = rng.permutation(len(self))
            train, validation = np.sort(order[held_out:]), np.sort(order[:held_out])
        return self.subset(train), self.subset(validation, name=f"{self.name} (validation)")


def _class_key(name: str) -> str:
    """A class name as in_class_order compares it: "T-shirt/top" and "t-shirt_top" -> "tshirttop"."""
    return "".join(character for character in name.lower() if character.isalnum())


def _listed(names, shown: int = 4) -> str:
    """'a', 'b', 'c' and 2 more — or "none" for an empty list."""
    if not names:
        return "none"
    quoted = ", ".join(f"'{name}'" for name in names[:shown])
    return quoted + (f" and {len(names) - shown} more" if len(names) > shown else "")
