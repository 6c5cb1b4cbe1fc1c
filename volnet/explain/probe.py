"""What every explanation starts from: a checked example, class and layer, and the gradient of
one class score.

Every method here asks the model the same question — how does the score of class c (the
number the last layer gives, before softmax) change with the input, or with one layer's
activation? — and answers it with one forward and one backward pass in inference mode
(batch norm uses its running statistics, dropout passes everything):

    scores = model.forward(x)              (N, classes)
    dscores = one-hot of c                 ∂ score_c / ∂ scores
    dx = model.backward(dscores)           ∂ score_c / ∂ x, (N, D, H, W)

and, for a layer L, `L.recorded_output` (its activation A) and `L.recorded_gradient`
(∂ score_c / ∂ A) from the layer API's record() (volnet.layers.base).

Layers are named as `volnet summary` numbers them (volnet.models.numbering): "3" is the third
layer, "4.1" the first layer inside residual block 4, "7.s1" (or "7.shortcut.1") the first layer
of its shortcut; find_layer, layer_name and layer_names are re-exported from there.
"""

from __future__ import annotations

import contextlib

import re
from dataclasses import dataclass

import numpy as np

from volnet.layers import Conv2D, Layer, format_shape
from volnet.models.numbering import find_layer, layer_name, layer_names
from volnet.training.metrics import softmax


def check_example(model: Layer, x) -> np.ndarray:
    """One example as the model takes it: a float array of the model's input shape (D, H, W).

    Raises:
        ValueError: the model is not built, or x has another shape (the message gives both).
        TypeError: x is not floating-point.
    """
    if not model.built:
        raise ValueError(f"{model.label()} is not built; build it (model.build(input_shape)) or load a trained model")
    x = np.asarray(x)
    if not np.issubdtype(x.dtype, np.floating):
        raise TypeError(f"an example must be floating-point, normalised as in training (e.g. with "
                        f"volnet.viz.model_input(image, normalization)); got dtype {x.dtype}")
    expected = tuple(model.input_shape)
    if x.shape != expected:
        raise ValueError(f"the model takes examples of {format_shape(expected)} (D, H, W = {expected}), got one of "
                         f"shape {x.shape}" + (f" ({format_shape(x.shape)})" if x.ndim == 3 else ""))
    return x.astype(model.dtype, copy=False)


def class_count(model: Layer) -> int:
    """The number of class scores the model gives."""
    scores = model.output_shape(model.input_shape)
    if len(scores) != 1:
        raise ValueError(f"{model.label()} ends in {format_shape(scores)} volumes, not a vector of class scores; "
                         f"explanations need a classifier ending in fc<classes>")
    return scores[0]


def class_index(model: Layer, chosen, class_names=None) -> int:
    """The class `chosen` names: its number (0-based) or its name (case and spaces ignored).

    Raises:
        ValueError: no such class (the message lists the valid ones).
    """
    count = class_count(model)
    names = list(class_names) if class_names is not None else [str(k) for k in range(count)]
    listed = ", ".join(f"{k} {name!r}" if name != str(k) else str(k) for k, name in enumerate(names))
    text = str(chosen).strip()
    if re.fullmatch(r"-?\d+", text):
        number = int(text)
        if 0 <= number < count:
            return number
        raise ValueError(f"class {number} does not exist: the model has {count} classes, 0 to {count - 1} ({listed})")
    key = text.lower().replace(" ", "")
    for number, name in enumerate(names):
        if name.lower().replace(" ", "") == key:
            return number
    raise ValueError(f"unknown class {text!r}; the model's classes are {listed}")


def conv_layer(model: Layer, name=None) -> Conv2D:
    """The Conv2D that `name` numbers; by default the last one of the model.

    Raises:
        ValueError: no conv layer, no such layer, or a layer that is not a Conv2D.
    """
    convs = layer_names(model, Conv2D)
    if not convs:
        raise ValueError(f"{model.label()} has no conv layer")
    if name is None:
        return convs[-1][1]
    layer = find_layer(model, name)
    if not isinstance(layer, Conv2D):
        raise ValueError(f"layer {name} is {layer.label()}, not a conv layer; the conv layers are "
                         f"{', '.join(number for number, _ in convs)}")
    return layer


def describe_layer(layer: Layer) -> str:
    """How figures and messages name a layer: "layer 4 (conv 3×3, 32 filters)"."""
    from volnet.viz.diagram import describe

    return f"layer {layer_name(layer)} ({describe(layer)})"


@dataclass
class ScoreGradient:
    """What one forward and backward pass of a class score gives.

    Attributes:
        scores: (N, classes), the class scores of the examples.
        input_gradient: (N, D, H, W), ∂ score_c / ∂ x for each example's class c.
        activation: (N, ...) the output of the layer asked for, or None.
        activation_gradient: (N, ...) ∂ score_c / ∂ activation, or None.
    """

    scores: np.ndarray
    input_gradient: np.ndarray
    activation: np.ndarray | None = None
    activation_gradient: np.ndarray | None = None


def score_gradient(model: Layer, x: np.ndarray, classes, layer: Layer | None = None) -> ScoreGradient:
    """∂ score_c / ∂ x for a batch, in inference mode, and optionally a layer's activation and its gradient.

    Args:
        model: a built classifier. x: (N, D, H, W), normalised as in training.
        classes: (N,) class indices, one per example (or one int for all).
        layer: a layer of the model whose activation and gradient are wanted, or None.

    Returns:
        A ScoreGradient. The model is left as it was: its mode, which layers record (though
        what they had recorded is cleared) and its parameters' .grad (which the backward pass
        would otherwise add to) are restored.
    """
    classes = np.broadcast_to(np.asarray(classes, dtype=np.int64), (len(x),))
    with inference_pass(model):
        scores = model.forward(x)
        dscores = np.zeros_like(scores)
        dscores[np.arange(len(x)), classes] = 1
        dx = model.backward(dscores)
        found = (None, None) if layer is None else (layer.recorded_output, layer.recorded_gradient)
    return ScoreGradient(scores, dx, *found)


@contextlib.contextmanager
def inference_pass(model: Layer):
    """Inside: the model in inference mode, every layer recording (Layer.record). On leaving, the
    model is put back as it was: its mode, which layers record (what they recorded is cleared)
    and its parameters' .grad, which a backward pass inside would otherwise add to (during
    training, those of the last step)."""
    was_training = model.training
    kept = {name: parameter.grad.copy() for name, parameter in model.parameters().items()}
    recording = [(item, item.recording) for _, item in model.named_layers()]
    model.eval().record()
    try:
        yield model
    finally:
        model.record(False)
        for item, was_recording in recording:
            item.recording = was_recording
        for name, parameter in model.parameters().items():
            parameter.grad[...] = kept[name]
        model.train(was_training)


def probabilities(model: Layer, x: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """softmax of the class scores (N, classes) in inference mode, in float64; x is (N, D, H, W)."""
    return softmax(forward(model, x, batch_size))


def forward(model: Layer, x: np.ndarray, batch_size: int = 256, layer: Layer | None = None, keep=None) -> np.ndarray:
    """The model's output for a batch (N, D, H, W) in inference mode, batch_size examples at a
    time; with `layer`, that layer's output instead (N, ...), which the model computes on the way.
    `keep` (a function of each batch's output) keeps only part of it, e.g. one depth slice."""
    was_training, was_recording = model.training, layer is not None and layer.recording
    model.eval()
    if layer is not None:
        layer.recording = True
    try:
        parts = []
        for start in range(0, len(x), batch_size):
            out = model.forward(np.asarray(x[start:start + batch_size], dtype=model.dtype))
            out = out if layer is None else layer.recorded_output
            parts.append(out if keep is None else keep(out))
    finally:
        if layer is not None:
            layer.recording = was_recording
            if not was_recording:
                layer.recorded_output = None
        model.train(was_training)
    return np.concatenate(parts)
