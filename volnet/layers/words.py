"""How a layer type is written in an architecture string: its word and the word's suffixes.

A word is a head and suffixes: "conv5-32/s2/p0" has the head "conv5-32" (matched by the
type's regular expression, whose groups are the numbers) and the suffixes /s2 and /p0.
A layer class declares its `Word` and makes itself from one with `from_word`; the grammar
around the words (brackets, repetition, residual blocks) and the caret-pointed errors live in
volnet.models.architecture.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

COUNT = r"(\d+)"  # a whole number in a word's head; ≥ 1 when the Word names what it counts
NUMBER = r"(\d+(?:\.\d*)?|\.\d+)"  # a decimal in a word's head, e.g. dropout's rate
NO_BIAS = {"nobias": "no bias"}
STRIDE_AND_PAD = {"s": "stride", "p": "pad"}
_SUFFIX = re.compile(r"([a-z]+)(\d*)")


@dataclass(frozen=True)
class Word:
    """An architecture-string word.

    Attributes:
        name: the letters it starts with, e.g. "conv"; unique among the registered types.
        pattern: the regular expression of the head (the part before any "/"), lower case,
            e.g. f"conv{COUNT}-{COUNT}"; its groups reach `from_word` as strings (None when absent).
        form: how to write it, for messages: "conv<F>-<K>, e.g. conv3-64".
        example: the word in the list of all words: "conv3-32".
        counts: what the head's whole numbers mean, in order ("filter size F", ...); each must be ≥ 1.
        suffixes: suffix -> its meaning, e.g. {"s": "stride", "nobias": "no bias"}, in the order
            messages list them. A suffix is /<letters><whole number>, or /nobias alone.
        zero_allowed: the suffixes whose number may be 0 (a pad, an output padding); the others
            must be at least 1.
    """

    name: str
    pattern: str
    form: str
    example: str
    counts: tuple[str, ...] = ()
    suffixes: dict[str, str] = field(default_factory=dict)
    zero_allowed: tuple[str, ...] = ("p",)

    def options(self, word: str) -> dict[str, int | bool]:
        """The suffixes of a lower-case word of this kind, parsed (see parse_suffixes)."""
        return parse_suffixes(word, self.suffixes, self.zero_allowed)


def parse_suffixes(word: str, allowed: dict[str, str], zero_allowed=("p",)) -> dict[str, int | bool]:
    """Parse the suffixes of a lower-case word: "conv3-8/s2/p0/nobias" -> {"s": 2, "p": 0, "nobias": True}.

    Args:
        word: the whole word, head and suffixes.
        allowed: suffix -> its meaning, for the messages.
        zero_allowed: the suffixes that may be 0.

    Raises:
        ValueError: a suffix the word does not take (listing those it takes, with `allowed`'s
            meanings), one given twice, or a 0 where at least 1 is needed.
    """
    found = {}
    for part in word.split("/")[1:]:
        match = _SUFFIX.fullmatch(part)
        key = match.group(1) if match else part
        if key not in allowed or (key == "nobias") != (match.group(2) == ""):
            choices = ", ".join(f"/{k}{'' if k == 'nobias' else '<n>'} ({meaning})" for k, meaning in allowed.items())
            raise ValueError(f"'/{part}' is not a suffix of '{word.split('/')[0]}'; it takes {choices or 'none'}")
        if key in found:
            raise ValueError(f"suffix '/{key}' is given twice")
        found[key] = True if key == "nobias" else int(match.group(2))
        if found[key] == 0 and key not in zero_allowed:
            raise ValueError(f"the {allowed[key]} in '/{part}' must be at least 1")
    return found
