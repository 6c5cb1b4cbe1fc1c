"""Named architectures: an architecture string with the input it was made for.

Build one with volnet.models.build_model("tiny"); print(summary(model)) shows its layers,
parameters and multiply-adds. A preset's layers adapt to another input volume
(build_model("tiny", input_shape=(3, 64, 64))); architecture_for(classes) gives its string
with a last layer for another number of classes.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass


@dataclass(frozen=True)
class Preset:
    """A named architecture.

    Attributes:
        name: what build_model and the CLI call it.
        body: the architecture string (see volnet.models.architecture) up to the last layer,
            the fc layer that gives the class scores.
        input_shape: (D, H, W) of one example.
        classes: the number of class scores the last layer gives.
        description: one line for listings.
    """

    name: str
    body: str
    input_shape: tuple[int, int, int]
    classes: int
    description: str

    @property
    def architecture(self) -> str:
        """The whole architecture string, e.g. "conv3-16 relu pool ... fc10"."""
        return self.architecture_for(self.classes)

    def architecture_for(self, classes: int) -> str:
        """The architecture string with a last layer of `classes` scores, e.g. for an image folder of 3 classes.

        Raises:
            ValueError: fewer than 2 classes.
        """
        if classes < 2:
            raise ValueError(f"the {self.name} preset classifies into at least 2 classes, got {classes}")
        return f"{self.body} fc{classes}"


PRESETS = {preset.name: preset for preset in (
    Preset(name="tiny",
           body="conv3-16 relu pool conv3-32 relu pool fc64 relu",
           input_shape=(1, 28, 28), classes=10,
           description="a small fast net for 28×28×1 images: a minute of Adam on 2 cores gets >85% on Fashion-MNIST"),
    Preset(name="fashion",
           body="conv3-32 bn relu pool [conv3-64 bn relu]*2 pool fc256 bn relu dropout0.3",
           input_shape=(1, 28, 28), classes=10,
           description="a VGG-like net with batch norm and dropout for Fashion-MNIST: ≈89% after one epoch of Adam"),
    Preset(name="cifar10",
           body="[conv3-32 bn relu]*2 pool [conv3-64 bn relu]*2 pool [conv3-128 bn relu]*2 pool "
                "fc256 bn relu dropout0.5",
           input_shape=(3, 32, 32), classes=10,
           description="a VGG-like net with batch norm and dropout for 32×32×3 CIFAR-10 images"),
    Preset(name="resnet-small",
           body="conv3-16 bn relu res[conv3-16 bn relu conv3-16 bn] relu pool "
                "res[conv3-32 bn relu conv3-32 bn] relu pool "
                "res[conv3-64 bn relu conv3-64 bn] relu gap",
           input_shape=(3, 32, 32), classes=10,
           description="a small ResNet for CIFAR-10: three residual blocks (two with projection shortcuts), "
                       "global average pooling"),
)}


def list_presets() -> list[Preset]:
    """Every preset, in the order above."""
    return list(PRESETS.values())


def get_preset(name: str) -> Preset:
    """The preset called `name` (case and surrounding spaces do not matter, as in build_model).

    Raises:
        ValueError: no such preset; the message lists them and suggests the nearest name.
    """
    key = str(name).strip().lower()
    if key in PRESETS:
        return PRESETS[key]
    guess = difflib.get_close_matches(key, PRESETS, n=1, cutoff=0.6)
    hint = f" (did you mean '{guess[0]}'?)" if guess else ""
    raise ValueError(f"unknown preset '{name}'{hint}; the presets are {', '.join(PRESETS)}.")
