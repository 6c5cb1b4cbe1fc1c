"""Named architectures: an architecture string with the input it was made for.

Build one with volnet.models.build_model("tiny"); print(summary(model)) shows its layers,
parameters and multiply-adds.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass


@dataclass(frozen=True)
class Preset:
    """A named architecture.

    Attributes:
        name: what build_model and the CLI call it.
        architecture: the architecture string (see volnet.models.architecture).
        input_shape: (D, H, W) of one example.
        classes: the number of class scores the last layer gives.
        description: one line for listings.
    """

    name: str
    architecture: str
    input_shape: tuple[int, int, int]
    classes: int
    description: str


PRESETS = {preset.name: preset for preset in (
    Preset(name="tiny",
           architecture="conv3-16 relu pool conv3-32 relu pool fc64 relu fc10",
           input_shape=(1, 28, 28), classes=10,
           description="a small fast net for 28×28×1 images: a minute of Adam on 2 cores gets >85% on Fashion-MNIST"),
    Preset(name="fashion",
           architecture="conv3-32 bn relu pool [conv3-64 bn relu]*2 pool fc256 bn relu dropout0.3 fc10",
           input_shape=(1, 28, 28), classes=10,
           description="a VGG-like net with batch norm and dropout for Fashion-MNIST: ≈89% after one epoch of Adam"),
    Preset(name="cifar10",
           architecture="[conv3-32 bn relu]*2 pool [conv3-64 bn relu]*2 pool [conv3-128 bn relu]*2 pool "
                        "fc256 bn relu dropout0.5 fc10",
           input_shape=(3, 32, 32), classes=10,
           description="a VGG-like net with batch norm and dropout for 32×32×3 CIFAR-10 images"),
    Preset(name="resnet-small",
           architecture="conv3-16 bn relu res[conv3-16 bn relu conv3-16 bn] relu pool "
                        "res[conv3-32 bn relu conv3-32 bn] relu pool "
                        "res[conv3-64 bn relu conv3-64 bn] relu gap fc10",
           input_shape=(3, 32, 32), classes=10,
           description="a small ResNet for CIFAR-10: three residual blocks (two with projection shortcuts), "
                       "global average pooling"),
)}


def list_presets() -> list[Preset]:
    """Every preset, in the order above."""
    return list(PRESETS.values())


def get_preset(name: str) -> Preset:
    """The preset called `name`.

    Raises:
        ValueError: no such preset; the message lists them and suggests the nearest name.
    """
    if name in PRESETS:
        return PRESETS[name]
    guess = difflib.get_close_matches(str(name), PRESETS, n=1, cutoff=0.6)
    hint = f"did you mean '{guess[0]}'? " if guess else ""
    raise ValueError(f"unknown preset '{name}'; {hint}The presets are {', '.join(PRESETS)}.")
