"""ConvNetJS: a volnet model as the JSON that ConvNetJS's `net.fromJSON` reads, for the browser.

ConvNetJS (Karpathy's JavaScript library; its demo pages train and show nets in the browser)
keeps a volume as one flat array in H×W×D order — value (x, y, d) at ((W·y) + x)·D + d — and
knows input, conv, pool (max), fc, relu, sigmoid, tanh and softmax layers. Each volnet layer
that has a ConvNetJS form says which (Layer.to_convnetjs calls the one method of the net
under construction that writes it). So:

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


class _Net:
    """The ConvNetJS layers of a model under construction: what a layer's to_convnetjs(net) is
    given. Each layer calls the one method that is its ConvNetJS form; `shape` is one example's
    shape entering it."""

    def __init__(self, shape):
        self.layers = [{"layer_type": "input", **_volume(shape)}]
        self.shape = tuple(shape)
        self.flat_from = None  # the volume (D, H, W) whose H×W×D layout the values keep after a Flatten
        self._pending = None  # (entry, weight, bias) of the conv or fc just seen, which a batch norm may fold into

    def layer(self, layer):
        """Add the ConvNetJS form of a layer (Layer.to_convnetjs) and move past it.

        Raises:
            ValueError: a layer with no ConvNetJS form, or an arrangement ConvNetJS cannot express.
        """
        if layer.to_convnetjs is None:
            raise ValueError(f"{layer.label()} has no ConvNetJS form; ConvNetJS nets are made of Conv2D (not "
                             f"grouped or dilated), MaxPool2D, Linear, ReLU, Sigmoid, Tanh, and BatchNorm or "
                             f"Dropout that volnet folds in or leaves out")
        out = layer.output_shape(self.shape)
        layer.to_convnetjs(self)
        self.shape = out

    def _add(self, entry):
        self.finish()
        self.layers.append(entry)

    def finish(self, batchnorm=None):
        """Write the pending conv or fc entry, with `batchnorm` folded in when given."""
        if self._pending is not None:
            entry, weight, bias = self._pending
            self._pending = None
            self.layers.append(entry(*_folded(weight, bias, batchnorm)))

    def conv(self, layer):
        """A conv layer: each filter (D, FH, FW) laid out (FH, FW, D); one stride and one pad."""
        if layer.groups != 1 or layer.dilations != (1, 1):
            raise ValueError(f"{layer.label()} is grouped or dilated; ConvNetJS's conv layer is neither")
        stride, pad = _square(layer, "stride", layer.strides), _square(layer, "pad", layer.pads)
        shape, out = self.shape, layer.output_shape(self.shape)

        def entry(weight, bias):
            depth, height, width = weight.shape[1:]
            filters = [{"sx": width, "sy": height, "depth": depth, "w": w.transpose(1, 2, 0).ravel().tolist()}
                       for w in weight]
            return {"layer_type": "conv", "sx": width, "sy": height, "stride": stride, "pad": pad,
                    "in_depth": shape[0], **_volume(out), "l1_decay_mul": 0.0, "l2_decay_mul": 1.0,
                    "filters": filters, "biases": _vol(bias)}

        self._weighted(layer, layer.filters, entry)

    def fc(self, layer):
        """An fc layer, its weights reordered from volnet's D×H×W flattening to ConvNetJS's H×W×D."""
        volume = self.shape if len(self.shape) == 3 else self.flat_from

        def entry(weight, bias):
            if volume is not None:  # the values are laid out H×W×D in ConvNetJS, D×H×W in volnet
                weight = weight.reshape(layer.units, *volume).transpose(0, 2, 3, 1).reshape(layer.units, -1)
            return {"layer_type": "fc", "out_sx": 1, "out_sy": 1, "out_depth": layer.units,
                    "num_inputs": weight.shape[1], "l1_decay_mul": 0.0, "l2_decay_mul": 1.0,
                    "filters": [_vol(row) for row in weight], "biases": _vol(bias)}

        self._weighted(layer, layer.units, entry)
        self.flat_from = None

    def _weighted(self, layer, outputs, entry):
        """Keep a conv or fc entry, entry(weight, bias), pending: a batch norm after it folds into it."""
        self.finish()
        bias = layer.parameter_data("bias")
        self._pending = (entry, layer.weight.data.astype(np.float64),
                         np.zeros(outputs) if bias is None else bias.astype(np.float64))

    def pool(self, layer):
        """A (max) pool layer: one stride and one pad for both axes."""
        stride, pad = _square(layer, "stride", layer.strides), _square(layer, "pad", layer.pads)
        self._add({"layer_type": "pool", "sx": layer.window[1], "sy": layer.window[0], "stride": stride, "pad": pad,
                   "in_depth": self.shape[0], **_volume(layer.output_shape(self.shape))})

    def elementwise(self, layer_type: str):
        """relu, sigmoid or tanh."""
        self._add({"layer_type": layer_type, **_volume(self.shape)})

    def flatten(self):
        """Nothing to add (ConvNetJS's fc reads any volume); the layout of the volume is remembered."""
        self.finish()
        self.flat_from = self.shape if len(self.shape) == 3 else self.flat_from

    def fold(self, batchnorm):
        """Fold a batch norm into the conv or fc right before it (ConvNetJS has no batch norm)."""
        if self._pending is None:
            raise ValueError(f"{batchnorm.label()} does not follow a Conv2D or Linear, so it cannot be folded into "
                             f"one, and ConvNetJS has no batch norm")
        self.finish(batchnorm)


def convnetjs_net(model, normalization=None, class_names=None) -> dict:
    """The ConvNetJS JSON of a built model (module doc), as a dict.

    Raises:
        ValueError: a layer or an arrangement ConvNetJS cannot express (the message names the layer).
    """
    if not model.built or len(model.input_shape) != 3:
        raise ValueError(f"{model.label()} must be built for volumes D×H×W (images) to be exported to ConvNetJS")
    net = _Net(model.input_shape)
    net.layer(model)
    net.finish()
    classes = math.prod(net.shape)
    net.layers.append({"layer_type": "softmax", "out_sx": 1, "out_sy": 1, "out_depth": classes,
                       "num_inputs": classes})
    mean = [0.0] * model.input_shape[0] if normalization is None else list(normalization.mean)
    std = [1.0] * model.input_shape[0] if normalization is None else list(normalization.std)
    return {"layers": net.layers,
            "volnet": {"input": "a Vol of W×H×D values (pixel/255 − mean[d]) / std[d]", "input_shape_dhw":
                       list(model.input_shape), "mean": mean, "std": std,
                       "class_names": None if class_names is None else [str(name) for name in class_names]}}


def export_convnetjs(model, path, normalization=None, class_names=None) -> None:
    """Write convnetjs_net(model, normalization, class_names) as JSON to `path`, atomically."""
    net = convnetjs_net(model, normalization, class_names)
    text = json.dumps(net, separators=(",", ":")).encode("utf-8")
    write_atomically(path, lambda file: file.write(text), what="ConvNetJS net")
