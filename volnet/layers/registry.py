"""The layer types volnet knows by name: what saved files, architecture strings, the summary,
the gradient check and the exporters look layers up in.

A layer class joins with the `register` decorator where it is defined:

    @register
    class Conv2D(Layer):
        word = Word("conv", f"conv{COUNT}-{COUNT}", ...)

and volnet/layers/__init__.py imports its module, so that `import volnet` registers it. The
order of registration is the order of `volnet gradcheck`'s cases and of the words listed in
architecture-string errors.
"""

from __future__ import annotations

import re

_LAYER_TYPES: dict[str, type] = {}


def register(cls: type) -> type:
    """Make a Layer subclass known by its class name (a class decorator); returns the class.

    Raises:
        ValueError: another class of that name, or another class with the same architecture word,
            is registered already; a word whose name is not the lower-case letters its words start with.
    """
    name = cls.__name__
    if _LAYER_TYPES.get(name, cls) is not cls:
        raise ValueError(f"a layer type named {name} is registered already ({_LAYER_TYPES[name].__module__})")
    word = getattr(cls, "word", None)
    if word is not None:
        if not (word.name.isalpha() and word.name.islower()) or re.match(r"[a-z]*", word.example).group() != word.name:
            raise ValueError(f"{name}'s architecture word is named {word.name!r}, but a word's name must be the "
                             f"lower-case letters its words start with (architecture strings find the layer type "
                             f"by them): its example {word.example!r} starts with "
                             f"{re.match(r'[a-z]*', word.example).group()!r}")
        taken = word_types().get(word.name)
        if taken is not None and taken is not cls:
            raise ValueError(f"{name}'s architecture word {word.name!r} is {taken.__name__}'s already")
    _LAYER_TYPES[name] = cls
    return cls


def layer_types() -> dict[str, type]:
    """Every registered layer type by class name, in registration order."""
    return dict(_LAYER_TYPES)


def word_types() -> dict[str, type]:
    """The registered layer types that have an architecture word, by the word's name ("conv", "fc")."""
    return {cls.word.name: cls for cls in _LAYER_TYPES.values() if getattr(cls, "word", None) is not None}
