"""How volnet numbers a model's layers, everywhere: the summary, the pictures, explain and the lab.

Top-level layers count from 1 ("3"); the layers inside residual block 4 are "4.1", "4.2", …;
those of its projection shortcut "4.s1", "4.s2" (Layer.index writes them "4.shortcut.1", which
is accepted too). Containers (Sequential) have no number of their own.
"""

from __future__ import annotations

import re

from volnet.layers import Layer, Sequential


def layer_number(index) -> str:
    """A layer's position (Layer.index, e.g. "3.shortcut.1") as volnet writes it everywhere: "3.s1"."""
    return re.sub(r"\.?shortcut\.?", ".s", str(index).strip()).lstrip(".")


def layer_names(model: Layer, kind: type = Layer) -> list[tuple[str, Layer]]:
    """Every layer of the model (or every one of `kind`, e.g. Conv2D) by its number ("3", "4.1",
    "7.s1"), in forward order, containers left out."""
    return [(layer_number(layer.index), layer) for _, layer in model.named_layers()
            if layer.index is not None and not isinstance(layer, Sequential) and isinstance(layer, kind)]


def layer_name(layer: Layer) -> str:
    """The number of a layer inside a model, e.g. "4.1"."""
    return layer_number(layer.index)


def find_layer(model: Layer, name) -> Layer:
    """The layer numbered `name`, e.g. 3, "4.1" or "7.s1" ("7.shortcut.1" also works).

    Raises:
        ValueError: no layer has that number (the message lists the numbers there are).
    """
    wanted = layer_number(name)
    named = layer_names(model)
    for number, layer in named:
        if number == wanted:
            return layer
    raise ValueError(f"the model has no layer {name}; its layers are numbered as in `volnet summary`: "
                     f"{', '.join(number for number, _ in named)}")
