"""Architecture strings: a whole ConvNet on one line, in the notes' layer-pattern notation.

The notes describe the common ConvNet as

    INPUT -> [[CONV -> RELU]*N -> POOL?]*M -> [FC -> RELU]*K -> FC

and name VGG's layers conv3-64 (64 filters of 3×3). An architecture string is that pattern
with concrete words:

    "[conv3-32 relu]*2 pool [conv3-64 relu]*2 pool fc128 relu fc10"

Grammar. Words are separated by spaces (a "->" between words is allowed and ignored);
brackets may touch the words inside them:

    architecture := item*
    item         := (word | "[" architecture "]" | "res[" architecture "]") ["*" N]

Words (F, K, N, S, P, d, G are whole numbers; p and slope are decimals):

    conv<F>-<K>      Conv2D: K filters of F×F, stride 1, pad "same" (P = (F − 1)/2, keeps W×H),
                     with bias. Suffixes, in any order: /s<S> stride, /p<P> pad, /d<d> dilation,
                     /g<G> groups, /nobias. E.g. conv3-64, conv5-32/s2/p0, conv3-64/g64/nobias.
    pool             MaxPool2D: 2×2 windows, stride 2.
    pool<F>          F×F windows, stride F; suffixes /s<S> stride, /p<P> pad: pool3/s2.
    avgpool...       AvgPool2D, in the same forms as pool.
    gap              GlobalAvgPool2D: each depth slice averaged to one number, D×H×W -> D.
    fc<N>            Linear with N outputs (a volume is flattened first); suffix /nobias.
    flatten          Flatten.
    relu, lrelu, lrelu<slope>, sigmoid, tanh
                     activations; lrelu's slope defaults to 0.01 (lrelu0.1).
    bn               BatchNorm (of vectors or, per depth slice, of volumes).
    dropout<p>       Dropout with rate p, e.g. dropout0.5; plain "dropout" means 0.5.
    ...              the word of any other registered layer type (its Layer.word, a
                     volnet.layers.words.Word; its from_word makes the layer).
    [ ... ]*N        the items inside, N times over, with fresh layers each time; nests.
    res[ ... ]       Residual: out = body(x) + shortcut(x), the body being the items inside.
                     The shortcut is the identity when the body keeps the volume's shape;
                     otherwise a projection: a Conv2D with the body's output depth and the
                     stride S that brings W×H to the body's (1×1 windows when they land on a
                     whole number of positions, S×S windows otherwise), without bias and
                     followed by a BatchNorm when the body contains one. res[...]*N repeats
                     the block.

Words are matched case-insensitively. Errors (unknown words, malformed suffixes, layers that
do not fit their input) are ValueErrors that quote the string and point at the word with a
caret line; positions count characters from 1:

    unknown word 'conf3-32' at position 19; did you mean 'conv3-32'?
      [conv3-32 relu]*2 conf3-32 fc10
                        ^^^^^^^^

Example:
    >>> model = build_model("[conv3-16 relu]*2 pool fc10", input_shape=(1, 28, 28))
    >>> model.output_shape((1, 28, 28))
    (10,)
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from volnet.layers import BatchNorm, Conv2D, Layer, Linear, Residual, Sequential, format_shape
from volnet.layers.registry import word_types
from volnet.limits import MAX_LAYERS, MAX_NESTING, MAX_NUMBER_DIGITS, MAX_REPETITIONS
from volnet.models.budget import check_model_memory
from volnet.models.presets import PRESETS, get_preset
from volnet.ops.geometry import output_size

_TOKEN = re.compile(r"res\[|\[|\]|\*(?:\s*\d+)?|[^\s\[\]*]+", re.IGNORECASE)
_SHOWN = 40  # characters shown on each side of the word an error points at, in a long string


@dataclass
class _Word:
    """One word of the string: where it is and how to make its layer."""

    text: str
    start: int
    make: Callable[[np.random.Generator | None], Layer]
    times: int = 1


@dataclass
class _Group:
    """`[ ... ]` or `res[ ... ]`, spanning text[start:end]."""

    items: list
    start: int
    end: int
    residual: bool
    times: int = 1


def _pointed(text: str, start: int, length: int, message: str, hint: str = "") -> ValueError:
    """A ValueError: the message, the string with a caret line under text[start:start+length], the hint."""
    line = re.sub(r"\s", " ", text)  # newlines and tabs would misalign the carets
    length = max(1, min(length, _SHOWN))
    if len(line) > 2 * _SHOWN + length:  # a long string: the part around the word, cut with …
        first = max(0, start - _SHOWN)
        line = ("…" if first else "") + line[first:start + length + _SHOWN] + ("…" if start + length + _SHOWN
                                                                               < len(line) else "")
        start = start - first + (1 if first else 0)
    return ValueError(f"{message}\n  {line}\n  {' ' * start}{'^' * length}" + (f"\n{hint}" if hint else ""))


# -- words ------------------------------------------------------------------------------------
# Each layer type declares its word (volnet.layers.words.Word) and makes itself from one
# (Layer.from_word); the registry (volnet.layers.registry) says which types there are.

def _word(text: str, token: str, start: int) -> _Word:
    """Recognise one word; raise a pointed error for unknown or malformed words."""
    word = token.lower()
    head = word.split("/")[0]
    name = re.match(r"[a-z]*", head).group()
    digits = max((len(number) for number in re.findall(r"\d+", word)), default=0)
    if digits > MAX_NUMBER_DIGITS:
        raise _pointed(text, start, len(token), f"'{token[:24]}…' at position {start + 1} has a number of {digits} "
                                                f"digits; numbers in a word have at most {MAX_NUMBER_DIGITS} "
                                                f"(MAX_NUMBER_DIGITS in volnet.limits)")
    kinds = word_types()
    if name in kinds:
        kind = kinds[name]
        form = kind.word.form
        match = re.fullmatch(kind.word.pattern, head)
        if match is None:
            raise _pointed(text, start, len(token),
                           f"'{token}' at position {start + 1} is not a well-formed {name} word; write {form}")
        for meaning, number in zip(kind.word.counts, match.groups()):
            if number is not None and int(number) < 1:
                raise _pointed(text, start, len(token), f"'{token}' at position {start + 1}: the {meaning} must be "
                                                        f"at least 1, got {number}; write {form}")
        try:
            options = kind.word.options(word)
        except ValueError as error:
            raise _pointed(text, start, len(token), f"'{token}' at position {start + 1}: {error}") from None
        return _Word(token, start, lambda rng: kind.from_word(match.groups(), options, rng))
    guess = difflib.get_close_matches(name, kinds, n=1, cutoff=0.5) if name else []
    hint = f"; did you mean '{guess[0]}{word[len(name):]}'?" if guess else ""
    examples = [kind.word.example for kind in kinds.values()] + ["res["]
    raise _pointed(text, start, len(token), f"unknown word '{token}' at position {start + 1}{hint}",
                   f"Words are {', '.join(examples)}; the grammar is in volnet.models.architecture.")


# -- the grammar ----------------------------------------------------------------------------

def _tokens(text: str) -> list[tuple[str, int]]:
    return [(m.group(), m.start()) for m in _TOKEN.finditer(text) if m.group() != "->"]


def _items(text, tokens, position, opening=None, depth=0):
    """Parse items from tokens[position] up to a "]" (when inside brackets opened at `opening`,
    `depth` brackets deep)."""
    if depth > MAX_NESTING:
        start = tokens[position - 1][1]
        raise _pointed(text, start, 1, f"brackets nested more than {MAX_NESTING} deep at position {start + 1}, beyond "
                                       f"volnet's limit (MAX_NESTING in volnet.limits)")
    items = []
    while position < len(tokens):
        token, start = tokens[position]
        if token == "]":
            if opening is None:
                raise _pointed(text, start, 1, f"']' at position {start + 1} has no matching '['")
            return items, position
        if token.startswith("*"):
            raise _pointed(text, start, len(token), f"'{token}' at position {start + 1} repeats nothing; "
                                                    f"write it right after a word or a ']', e.g. [conv3-32 relu]*2")
        if token.lower() in ("[", "res["):
            inner, end = _items(text, tokens, position + 1, opening=start, depth=depth + 1)
            if end == len(tokens):
                raise _pointed(text, start, len(token), f"'{token}' at position {start + 1} is never closed; add a ']'")
            if not inner:
                raise _pointed(text, start, tokens[end][1] + 1 - start, f"empty brackets at position {start + 1}")
            item = _Group(inner, start, tokens[end][1] + 1, residual=token.lower() == "res[")
            position = end + 1
        else:
            item = _word(text, token, start)
            position += 1
        if position < len(tokens) and tokens[position][0].startswith("*"):
            count, count_start = tokens[position]
            times = count[1:].strip()
            if not times.isdigit() or int(times[:MAX_NUMBER_DIGITS + 1]) < 1:
                raise _pointed(text, count_start, len(count), f"'{count}' at position {count_start + 1}: "
                                                              f"a repetition needs a count ≥ 1, e.g. *2")
            if len(times) > len(str(MAX_REPETITIONS)) or int(times) > MAX_REPETITIONS:
                raise _pointed(text, count_start, len(count), f"'{count[:20]}' at position {count_start + 1}: "
                                                              f"a repetition count is at most {MAX_REPETITIONS:,} "
                                                              f"(MAX_REPETITIONS in volnet.limits)")
            item.times = int(times)
            position += 1
        items.append(item)
    return items, position


def _parse(text: str) -> list:
    if not isinstance(text, str):
        raise TypeError(f"an architecture is a string such as 'conv3-16 relu pool fc10', got {type(text).__name__}")
    if not text.strip():
        raise ValueError("the architecture string is empty; write layers such as 'conv3-16 relu pool fc10'")
    items, _ = _items(text, _tokens(text), 0)
    if not items:
        raise ValueError("the architecture string is empty; write layers such as 'conv3-16 relu pool fc10'")
    layers = _layer_count(items)
    if layers > MAX_LAYERS:
        raise ValueError(f"the architecture string makes {layers:,} layers once its repetitions are expanded, beyond "
                         f"volnet's limit of {MAX_LAYERS:,} (MAX_LAYERS in volnet.limits)")
    return items


def _layer_count(items) -> int:
    """The layers that items make, repetitions expanded, counted without making them."""
    count = 0
    for item in items:
        inner = 0 if isinstance(item, _Word) else _layer_count(item.items)
        own = 1 if isinstance(item, _Word) or item.residual else 0  # a res[...] is a layer around its body
        count += item.times * (own + inner)
    return count


# -- layers and shapes ------------------------------------------------------------------------

def _projection(text, group: _Group, body: list[Layer], shape, body_shape, where) -> Layer | None:
    """The shortcut of a residual block that turns `shape` into `body_shape` (see module doc)."""
    if body_shape == shape:
        return None

    def fail(why):
        return _pointed(text, group.start, group.end - group.start,
                        f"res[...] at position {group.start + 1}{where}: the body turns {format_shape(shape)} into "
                        f"{format_shape(body_shape)}; {why}")

    if len(shape) != 3 or len(body_shape) != 3:
        raise fail("a shortcut can only project a volume onto a volume. Keep fc, flatten and gap out of res[...].")
    windows, strides = [], []
    for size, out in zip(shape[1:], body_shape[1:]):
        fits = [(window, stride) for window in (1, None) for stride in range(1, size + 1)
                if size >= (window or stride) and _fits(size, window or stride, stride, out)]
        if not fits:
            raise fail(f"no strided window maps {size} onto {out}. "
                       f"Make the body's W×H a whole fraction of its input's.")
        window, stride = fits[0]
        windows.append(window or stride)
        strides.append(stride)
    with_bn = any(isinstance(inner, BatchNorm) for layer in body for _, inner in layer.named_layers())
    size, stride = (windows[0] if windows[0] == windows[1] else tuple(windows),
                    strides[0] if strides[0] == strides[1] else tuple(strides))
    conv = Conv2D(body_shape[0], size, stride=stride, bias=not with_bn)
    return Sequential([conv, BatchNorm()]) if with_bn else conv


def _fits(size, window, stride, out):
    try:
        return output_size(size, window, stride) == out
    except ValueError:
        return False


def _instantiate(text, items, shape, rng, where=""):
    """Make the layers of `items` for one example of `shape` (None: unknown, no checks).
    Returns the layers and the output shape."""
    layers = []
    for item in items:
        for repetition in range(1, item.times + 1):
            what = "word" if isinstance(item, _Word) else "brackets"
            here = where + (f" (in repetition {repetition} of {item.times} of the {what} at position {item.start + 1})"
                            if item.times > 1 else "")
            if isinstance(item, _Word):
                try:
                    layer = item.make(rng)
                    shape = None if shape is None else layer.output_shape(shape)
                except (ValueError, TypeError) as error:
                    raise _pointed(text, item.start, len(item.text),
                                   f"'{item.text}' at position {item.start + 1}{here}: {error}") from None
                layers.append(layer)
            elif not item.residual:
                inner, shape = _instantiate(text, item.items, shape, rng, here)
                layers.extend(inner)
            else:
                if shape is None:
                    raise _pointed(text, item.start, item.end - item.start,
                                   f"res[...] at position {item.start + 1} needs the input shape to choose its "
                                   f"shortcut; pass input_shape, e.g. build_model(text, input_shape=(3, 32, 32))")
                body, body_shape = _instantiate(text, item.items, shape, rng, here)
                layers.append(Residual(body, _projection(text, item, body, shape, body_shape, here)))
                shape = body_shape
    return layers, shape


def parse_architecture(text: str, input_shape=None, seed: int | None = None) -> list[Layer]:
    """Turn an architecture string into a list of fresh, unbuilt layers (grammar in the module doc).

    Args:
        text: e.g. "[conv3-32 relu]*2 pool fc10".
        input_shape: (D, H, W) of one example. When given, every layer is checked against the
            output of the one before, and shape errors point at the word that caused them;
            residual blocks need it to choose their shortcut.
        seed: seeds the dropout layers' random generators (None: unseeded).

    Returns:
        The layers, in order; repetitions are separate layers with their own parameters.

    Raises:
        ValueError: an unknown or malformed word, unbalanced brackets, or a layer that does
            not fit its input; the message quotes the string with a caret under the word.
        TypeError: text is not a string.
    """
    shape = None if input_shape is None else tuple(int(s) for s in input_shape)
    layers, _ = _instantiate(text, _parse(text), shape, None if seed is None else np.random.default_rng(seed))
    return layers


def build_model(spec: str, input_shape=None, seed: int = 0, dtype=np.float32) -> Sequential:
    """Build a Sequential model from an architecture string or a preset name, with its parameters.

    Args:
        spec: an architecture string ("conv3-16 relu pool fc10") or a preset name ("tiny";
            see volnet.models.presets.list_presets).
        input_shape: (D, H, W) of one example; a preset supplies its own when this is None.
        seed: seeds the initial weights (and the dropout layers).
        dtype: float32 (default) or float64.

    Returns:
        A built Sequential in training mode.

    Raises:
        ValueError: as parse_architecture; also a missing input_shape, or a single word that
            is neither a preset nor a layer (with the nearest preset name).
    """
    name = spec.strip().lower() if isinstance(spec, str) else None
    preset = None
    if name in PRESETS:
        preset = get_preset(name)
        spec, input_shape = preset.architecture, input_shape or preset.input_shape
    elif name and name not in word_types() and difflib.get_close_matches(name, PRESETS, n=1, cutoff=0.6):
        get_preset(name)  # a lone name close to a preset's: say which one was probably meant
    if input_shape is None:
        raise ValueError(f"build_model needs input_shape, the (D, H, W) of one example, to build {spec!r}; "
                         f"e.g. input_shape=(1, 28, 28) for Fashion-MNIST or (3, 32, 32) for CIFAR-10")
    try:
        layers = parse_architecture(spec, input_shape, seed)
    except ValueError as error:
        if preset is None or tuple(input_shape) == preset.input_shape:
            raise
        raise ValueError(f"{error}\n{_preset_hint(preset, tuple(input_shape))}") from None
    check_model_memory(Sequential(layers), input_shape, dtype, source=f"the architecture {_quoted(spec)}")
    model = Sequential(layers, input_shape=input_shape, seed=seed, dtype=dtype)
    _calm_class_scores(model)
    return model


def _preset_hint(preset, input_shape) -> str:
    """Why a preset does not fit an input, and the presets made for that input."""
    others = [other.name for other in PRESETS.values() if other.input_shape == input_shape]
    dataset = " (e.g. volnet train --dataset cifar10)" if preset.input_shape == (3, 32, 32) else ""
    return (f"The {preset.name} preset is made for {format_shape(preset.input_shape)} images, and these are "
            f"{format_shape(input_shape)}: use it on {format_shape(preset.input_shape)} images{dataset}"
            + (f", or choose a preset made for {format_shape(input_shape)}: {', '.join(others)}" if others else
               ", or give an architecture string"))


def _quoted(spec: str, shown: int = 60) -> str:
    """An architecture string for a message, cut short past `shown` characters."""
    return repr(spec) if len(spec) <= shown else repr(spec[:shown]) + f"… ({len(spec):,} characters)"


def _calm_class_scores(model: Sequential):
    """Start the final Linear (the class scores) with weights 10× smaller than He's.

    With He initialisation the initial scores spread widely and the first loss sits far
    above ln C (≈ 3.1 instead of 2.30 for the tiny preset). Small initial scores make every
    class about equally likely, so the loss starts at ≈ ln C — the CS231n sanity check —
    and the first steps are not spent undoing a random confident guess.
    """
    last = model.layers[-1] if model.layers else None
    if isinstance(last, Linear):
        last.weight.data *= 0.1
