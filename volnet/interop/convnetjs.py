"""ConvNetJS: a volnet model as the JSON that ConvNetJS's `net.fromJSON` reads, for the browser.

ConvNetJS (Karpathy's JavaScript library; its demo pages train and show nets in the browser)
keeps a volume as one flat array in H×W×D order — value (x, y, d) at ((W·y) + x)·D + d — and
knows input, conv, pool (max), fc, relu, sigmoid, tanh and softmax layers. So:

    Conv2D        conv: each filter (D, FH, FW) laid out (FH, FW, D); one stride and one pad for
                  both axes; no dilation, no groups
    BatchNorm     folded into the conv or fc before it: w' = w·γ/σ, b' = (b − μ)·γ/σ + β,
                  σ = sqrt(running_var + ε) (ConvNetJS has no batch norm)
    Linear        fc, its weights reordered from volnet's D×H×W flattening to ConvNetJS's H×W×D
    MaxPool2D     pool
    ReLU, Sigmoid, Tanh   relu, sigmoid, tanh
    Dropout       left out (the identity at inference; ConvNetJS would scale by the wrong factor)
    Flatten       nothing (ConvNetJS's fc reads any volume)
    the end       a softmax layer over the class scores

AvgPool2D, GlobalAvgPool2D, LeakyReLU, residual blocks, dilated or grouped convolutions and
batch norm that does not follow a conv or fc have no ConvNetJS form and are refused by name.
ConvNetJS has no preprocessing either: feed it (pixel/255 − mean)/std per channel, with the
mean and std found under the top-level "volnet" key (which fromJSON ignores), next to the
class names.
"""

from __future__ import annotations

import json
import math

import numpy as np

from volnet.files import write_atomically
from volnet.layers import BatchNorm, Conv2D, Dropout, Flatten, Linear, MaxPool2D, ReLU, Sequential, Sigmoid, Tanh

_ELEMENTWISE = {ReLU: "relu", Sigmoid: "sigmoid", Tanh: "tanh"}


def _volume(shape) -> dict:
    """ConvNetJS's out_sx, out_sy, out_depth of one example's shape ((D, H, W) or (D,))."""
    depth, height, width = shape if len(shape) == 3 else (shape[0], 1, 1)
    return {"out_sx": width, "out_sy": height, "out_depth": depth}


def _vol(values) -> dict:
    """A 1×1×n ConvNetJS Vol holding `values`."""
    values = np.asarray(values, dtype=np.float64).ravel()
    return {"sx": 1, "sy": 1, "depth": len(values), "w": values.tolist()}


def _square(layer, name, pair):
    if pair[0] != pair[1]:
        raise ValueError(f"{layer.label()} has {name} {pair}; ConvNetJS takes one {name} for both axes")
    return pair[0]


def _folded(weight, bias, batchnorm):
    """weight (K, ...) and bias (K,) of a conv or fc with the batch norm after it folded in."""
    if batchnorm is None:
        return weight, bias
    scale = batchnorm.gamma.data / np.sqrt(batchnorm.running_var.data + batchnorm.eps)
    return (weight * scale.reshape(-1, *[1] * (weight.ndim - 1)),
            (bias - batchnorm.running_mean.data) * scale + batchnorm.beta.data)


def _conv(layer, shape, batchnorm, volume):
    if layer.groups != 1 or layer.dilations != (1, 1):
        raise ValueError(f"{layer.label()} is grouped or dilated; ConvNetJS's conv layer is neither")
    stride, pad = _square(layer, "stride", layer.strides), _square(layer, "pad", layer.pads)
    bias = layer.parameter_data("bias")
    weight, bias = _folded(layer.weight.data.astype(np.float64),
                           np.zeros(layer.filters) if bias is None else bias.astype(np.float64), batchnorm)
    out = layer.output_shape(shape)
    depth, height, width = weight.shape[1:]
    filters = [{"sx": width, "sy": height, "depth": depth, "w": w.transpose(1, 2, 0).ravel().tolist()}
               for w in weight]
    return {"layer_type": "conv", "sx": width, "sy": height, "stride": stride, "pad": pad, "in_depth": shape[0],
            **_volume(out), "l1_decay_mul": 0.0, "l2_decay_mul": 1.0, "filters": filters, "biases": _vol(bias)}


def _fc(layer, shape, batchnorm, volume):
    bias = layer.parameter_data("bias")
    weight, bias = _folded(layer.weight.data.astype(np.float64),
                           np.zeros(layer.units) if bias is None else bias.astype(np.float64), batchnorm)
    if volume is not None:  # the values are laid out H×W×D in ConvNetJS, D×H×W in volnet
        weight = weight.reshape(layer.units, *volume).transpose(0, 2, 3, 1).reshape(layer.units, -1)
    return {"layer_type": "fc", "out_sx": 1, "out_sy": 1, "out_depth": layer.units, "num_inputs": weight.shape[1],
            "l1_decay_mul": 0.0, "l2_decay_mul": 1.0, "filters": [_vol(row) for row in weight], "biases": _vol(bias)}


def _pool(layer, shape, batchnorm, volume):
    stride, pad = _square(layer, "stride", layer.strides), _square(layer, "pad", layer.pads)
    out = layer.output_shape(shape)
    return {"layer_type": "pool", "sx": layer.window[1], "sy": layer.window[0], "stride": stride, "pad": pad,
            "in_depth": shape[0], **_volume(out)}


# layer type -> (layer, input shape, the BatchNorm after it or None, the volume a Linear's input
# was flattened from or None) -> its ConvNetJS layer
_MAKERS = {Conv2D: _conv, Linear: _fc, MaxPool2D: _pool}


def convnetjs_net(model, normalization=None, class_names=None) -> dict:
    """The ConvNetJS JSON of a built model (module doc), as a dict.

    Raises:
        ValueError: a layer or an arrangement ConvNetJS cannot express (the message names the layer).
    """
    if not model.built or len(model.input_shape) != 3:
        raise ValueError(f"{model.label()} must be built for volumes D×H×W (images) to be exported to ConvNetJS")
    layers = [layer for layer in (model.layers if isinstance(model, Sequential) else [model])
              if not isinstance(layer, Dropout)]
    shape = tuple(model.input_shape)
    net = [{"layer_type": "input", **_volume(shape)}]
    flat_from = None  # the volume (D, H, W) whose H×W×D layout the values keep after a Flatten
    for position, layer in enumerate(layers):
        kind = type(layer)
        following = layers[position + 1] if position + 1 < len(layers) else None
        if kind is BatchNorm:
            if position == 0 or type(layers[position - 1]) not in (Conv2D, Linear):
                raise ValueError(f"{layer.label()} does not follow a Conv2D or Linear, so it cannot be folded into "
                                 f"one, and ConvNetJS has no batch norm")
        elif kind in _MAKERS:
            batchnorm = following if type(following) is BatchNorm else None
            volume = (shape if len(shape) == 3 else flat_from) if kind is Linear else None
            net.append(_MAKERS[kind](layer, shape, batchnorm, volume))
            flat_from = None if kind is Linear else flat_from
        elif kind in _ELEMENTWISE:
            net.append({"layer_type": _ELEMENTWISE[kind], **_volume(shape)})
        elif kind is Flatten:
            flat_from = shape if len(shape) == 3 else flat_from
        else:
            raise ValueError(f"{layer.label()} has no ConvNetJS form; ConvNetJS nets are made of Conv2D (not "
                             f"grouped or dilated), MaxPool2D, Linear, ReLU, Sigmoid, Tanh, and BatchNorm or "
                             f"Dropout that volnet folds in or leaves out")
        shape = layer.output_shape(shape)
    classes = math.prod(shape)
    net.append({"layer_type": "softmax", "out_sx": 1, "out_sy": 1, "out_depth": classes, "num_inputs": classes})
    mean = [0.0] * model.input_shape[0] if normalization is None else list(normalization.mean)
    std = [1.0] * model.input_shape[0] if normalization is None else list(normalization.std)
    return {"layers": net,
            "volnet": {"input": "a Vol of W×H×D values (pixel/255 − mean[d]) / std[d]", "input_shape_dhw":
                       list(model.input_shape), "mean": mean, "std": std,
                       "class_names": None if class_names is None else [str(name) for name in class_names]}}


def export_convnetjs(model, path, normalization=None, class_names=None) -> None:
    """Write convnetjs_net(model, normalization, class_names) as JSON to `path`, atomically."""
    net = convnetjs_net(model, normalization, class_names)
    text = json.dumps(net, separators=(",", ":")).encode("utf-8")
    write_atomically(path, lambda file: file.write(text), what="ConvNetJS net")
