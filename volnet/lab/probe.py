"""Looking inside a model at one input: what the lab's layer cards and drill-downs show.

`look(model, x, label)` runs one forward and one backward pass in inference mode with every
layer recording (Layer.record): row 0 of the batch x is the input being looked at, the other
rows (validation images) only count for the share of dead ReLUs. The backward starts from
the gradient of that one example's softmax loss for `label`, so each layer's recorded
gradient is dL/d(activation) for it. From a Look:

    layer_cards      per layer of the model: type, W×H×D, hyperparameters, the parameter count
                     written out (K×F×F×D + K = total), activation maps and their gradients,
                     filters and weight gradients with min/max/mean, update/weight ratio, dead
                     ReLUs, and flags when these leave their usual ranges
    conv_neuron      one output number of a conv layer as the dot product of its filter with
                     its receptive field, with the real numbers: Σ w·x + b
    pool_neuron      one output number of a pooling layer and which input of its window won

The saliency and Grad-CAM maps of the input looked at are volnet.explain's (saliency_map,
grad_cam). The backward passes here leave the parameters' .grad as they found them: those of the last
training step, which the cards show.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from volnet.explain.probe import inference_pass
from volnet.layers import Conv2D, Layer, MaxPool2D, ReLU, format_shape
from volnet.lab.wire import MAX_DRAWN, numbers, picture
from volnet.models.numbering import layer_name
from volnet.ops.loss import softmax_cross_entropy

UPDATE_RATIO = (1e-4, 1e-2)  # CS231n: ‖update‖/‖weights‖ ≈ 1e-3 per step; far outside means a bad lr
DEAD_SHARE = 0.5  # a ReLU layer with more units dead on the whole batch than this is flagged
MAX_FILTERS, MAX_FILTER_DEPTH = 16, 8  # filters (K) and depth slices of each that are sent


@dataclass
class Look:
    """One forward + backward pass (module doc).

    Attributes:
        x: the batch (B, D, H, W), row 0 looked at. scores: (B, classes).
        outputs, gradients: per layer of the model, its output (B, ...) and dL/d(output) (B, ...), zero
            in rows other than 0. dx: dL/dx (B, D, H, W).
    """

    x: np.ndarray
    scores: np.ndarray
    outputs: list[np.ndarray]
    gradients: list[np.ndarray]
    dx: np.ndarray

    def layer_input(self, index: int) -> np.ndarray:
        """What layer `index` (0-based) received for row 0."""
        return self.x[0] if index == 0 else self.outputs[index - 1][0]


def look(model, x: np.ndarray, label: int) -> Look:
    """The pass of the module doc on batch x (B, D, H, W), normalised, for class `label` of row 0."""

    with inference_pass(model):
        scores = model.forward(x)
        dscores = np.zeros_like(scores)
        dscores[:1] = softmax_cross_entropy(scores[:1], np.asarray([label]))[1]
        dx = model.backward(dscores)
        return Look(x, scores, [layer.recorded_output for layer in model.layers],
                    [layer.recorded_gradient for layer in model.layers], dx)


def parameter_formula(layer: Layer) -> str:
    """The layer's learnable numbers written out, in the notes' order: e.g. "16×3×3×1 + 16 = 160"
    for 16 filters of 3×3×1 with biases (a filter bank (K, D, F, F) is written K×F×F×D); "0"."""
    shapes = [p.data.shape for p in layer.parameters().values()]
    if not shapes:
        return "0"
    terms = ["×".join(map(str, (s[0], *s[2:], s[1]) if len(s) == 4 else s)) for s in shapes]
    total = sum(int(np.prod(s)) for s in shapes)
    return f"{' + '.join(terms)} = {total:,}" if len(terms) > 1 or "×" in terms[0] else f"{total:,}"


def _drawn(weight: np.ndarray) -> dict:
    """A parameter as the page draws it: a filter bank (K, D, F, F) as its first MAX_FILTERS filters'
    first MAX_FILTER_DEPTH slices, a vector or a small matrix whole, a large matrix as its numbers only."""
    if weight.ndim == 4:
        return picture(weight[:MAX_FILTERS, :MAX_FILTER_DEPTH].reshape(-1, *weight.shape[2:]), max_slices=10 ** 6,
                       whole=weight)
    return picture(weight) if weight.ndim == 1 or weight.size <= MAX_DRAWN else numbers(weight)


def layer_cards(model, seen: Look, steps: dict[str, dict[str, np.ndarray]]) -> list[dict]:
    """One card per layer of the model (module doc).

    Args:
        seen: the Look at the input.
        steps: per parameter name (model.parameters()' dotted names), the training step's
            {"weight": value before the step, "update": the step's change, "grad": its gradient}.
    """
    cards = []
    for index, layer in enumerate(model.layers):
        output, gradient = seen.outputs[index], seen.gradients[index]
        card = {"index": index + 1, "number": layer_name(layer), "type": type(layer).__name__, "label": repr(layer),
                "input": format_shape(seen.layer_input(index).shape), "output": format_shape(output.shape[1:]),
                "parameters": parameter_formula(layer),
                "activation": picture(output[0]), "gradient": picture(gradient[0]), "flags": [],
                "clickable": isinstance(layer, (Conv2D, MaxPool2D)) and output.ndim == 4}
        own = {name: steps[f"{index}.{name}"] for name in layer.parameters() if f"{index}.{name}" in steps}
        if own:
            card["weights"] = [{"name": name, "shape": list(step["weight"].shape),
                                "value": _drawn(step["weight"]), "grad": _drawn(step["grad"])}
                               for name, step in own.items()]
            change = np.sqrt(sum(float(np.sum(step["update"].astype(np.float64) ** 2)) for step in own.values()))
            size = np.sqrt(sum(float(np.sum(step["weight"].astype(np.float64) ** 2)) for step in own.values()))
            ratio = card["update_ratio"] = change / size if size > 0 else None
            low, high = UPDATE_RATIO
            if ratio is not None and not low <= ratio <= high:
                side, limit, rate = ("below", low, "low") if ratio < low else ("above", high, "high")
                card["flags"].append(f"update/weight {ratio:.0e} is {side} {limit:.0e}: learning rate too {rate} "
                                     "for this layer?")
        if isinstance(layer, ReLU):
            dead = float(np.mean(np.all(output <= 0, axis=0)))
            card["dead"] = dead
            if dead > DEAD_SHARE:
                card["flags"].append(f"{dead:.0%} of its units are 0 on the whole batch (dead ReLUs)")
        cards.append(card)
    return cards


def _inside(positions: np.ndarray, size: int) -> np.ndarray:
    """The indices of the positions that fall inside 0..size−1 (the others are padding)."""
    return np.nonzero((positions >= 0) & (positions < size))[0]


def conv_neuron(layer: Conv2D, volume: np.ndarray, k: int, row: int, col: int) -> dict:
    """Output number (k, row, col) of a conv layer as its filter's dot product with the receptive field.

    Args:
        volume: the layer's input for one example (D, H, W).

    Returns:
        {"rows", "cols": the receptive field's input rows and columns (outside the input: padding),
         "depth": the first input depth slice the filter sees, "x": the field's numbers (D/G, FH, FW)
         with zeros for padding, "w": the filter (D/G, FH, FW), "b": its bias, "products": x·w,
         "sum": Σ x·w + b}.

    Raises:
        ValueError: (k, row, col) outside the layer's output.
    """
    _, height, width = layer.output_shape(volume.shape)
    if not (0 <= k < layer.filters and 0 <= row < height and 0 <= col < width):
        raise ValueError(f"{layer.label()} has outputs k < {layer.filters}, row < {height}, column < {width}; "
                         f"got ({k}, {row}, {col})")
    (fh, fw), (sh, sw), (ph, pw), (dh, dw) = layer.window, layer.strides, layer.pads, layer.dilations
    rows, cols = row * sh - ph + dh * np.arange(fh), col * sw - pw + dw * np.arange(fw)
    weight = layer.weight.data[k].astype(np.float64)
    first = k // (layer.filters // layer.groups) * weight.shape[0]
    field = np.zeros_like(weight)
    slices, inside_rows, inside_cols = np.arange(len(weight)), _inside(rows, volume.shape[1]), _inside(cols, volume.shape[2])
    field[np.ix_(slices, inside_rows, inside_cols)] = volume[np.ix_(first + slices, rows[inside_rows],
                                                                    cols[inside_cols])]
    bias = float(layer.bias.data[k]) if layer.parameter_data("bias") is not None else 0.0
    products = field * weight
    return {"rows": rows.tolist(), "cols": cols.tolist(), "depth": int(first), "x": field.tolist(),
            "w": weight.tolist(), "b": bias, "products": products.tolist(), "sum": float(products.sum() + bias)}


def pool_neuron(layer: MaxPool2D, volume: np.ndarray, d: int, row: int, col: int) -> dict:
    """Output number (d, row, col) of a max-pooling layer and the input of its window that won.

    Returns:
        {"rows", "cols": the window's input rows and columns, "x": its numbers (padding: -inf
         shown as null), "winner": [row, col] of the largest, "max": its value}.
    """
    _, height, width = layer.output_shape(volume.shape)
    if not (0 <= d < volume.shape[0] and 0 <= row < height and 0 <= col < width):
        raise ValueError(f"{layer.label()} has outputs d < {volume.shape[0]}, row < {height}, column < {width}; "
                         f"got ({d}, {row}, {col})")
    (fh, fw), (sh, sw), (ph, pw) = layer.window, layer.strides, layer.pads
    rows, cols = row * sh - ph + np.arange(fh), col * sw - pw + np.arange(fw)
    window = np.full((fh, fw), -np.inf)
    inside_rows, inside_cols = _inside(rows, volume.shape[1]), _inside(cols, volume.shape[2])
    window[np.ix_(inside_rows, inside_cols)] = volume[d][np.ix_(rows[inside_rows], cols[inside_cols])]
    best = np.unravel_index(int(np.argmax(window)), window.shape)
    return {"rows": rows.tolist(), "cols": cols.tolist(),
            "x": [[None if not np.isfinite(v) else float(v) for v in line] for line in window],
            "winner": [int(rows[best[0]]), int(cols[best[1]])], "max": float(window[best])}
