"""ONNX: a volnet model as a graph that any ONNX runtime runs, and such a graph read back.

The exported graph (opset OPSET, built with the `onnx` package: pip install "volnet[onnx]"):

    pixels (N, D, H, W) float32, values 0–255 — the pixels `volnet predict` reads from an image
      -> Sub(255·mean) -> Div(255·std)        the model's normalisation, per channel
      -> the layers, one or two nodes each (table below)
      -> scores (N, C) -> Softmax(axis=1) -> probabilities (N, C)

N is a dynamic dimension ("N"); D, H, W are fixed. The metadata holds the class names
("class_names", JSON) and the normalisation ("normalization", JSON). Nodes and weights are
named after the volnet layers ("3.body.0" ...). Each layer adds its own nodes (Layer.to_onnx):

    volnet            ONNX
    Conv2D            Conv (pads [P_h, P_w, P_h, P_w], strides, dilations, group)
    MaxPool2D         MaxPool (padding never wins in either)
    AvgPool2D         AveragePool with count_include_pad=1 (volnet counts padding as zeros)
    GlobalAvgPool2D   GlobalAveragePool, Flatten
    Linear            Gemm (transB=1), after a Flatten when its input is a volume (import also
                      reads a MatMul by a constant matrix, PyTorch's Linear without bias)
    Flatten           Flatten (axis=1)
    ReLU, LeakyReLU, Sigmoid, Tanh   Relu, LeakyRelu (alpha), Sigmoid, Tanh
    BatchNorm         BatchNormalization, inference form (epsilon; momentum = 1 − volnet's)
    Residual          the body, the projection (or the input itself), Add
    Dropout           nothing (it is the identity at inference)

Import reads the same subset back: a chain of those nodes from one input, where a value may
fork into two branches that meet again in an Add (a residual block: the longer branch is the
body, the other the projection, or nothing for an identity shortcut); leading Sub/Div by
constants become the normalisation, a trailing Softmax is dropped (volnet's predict applies
it), a Flatten right before a Gemm or right after a GlobalAveragePool is absorbed (volnet's
Linear and GlobalAvgPool2D flatten themselves), and Identity and Dropout nodes vanish. Any
other node is refused with its name and op. Weights must be stored in the file (no external
data: a path in a file volnet reads must not make it open other files).
"""

from __future__ import annotations

import json

import numpy as np

from volnet.files import write_atomically
from volnet.layers import (AvgPool2D, BatchNorm, Conv2D, Flatten, GlobalAvgPool2D, LeakyReLU, Linear, MaxPool2D,
                           ReLU, Residual, Sequential, Sigmoid, Tanh)
from volnet.layers.registry import layer_types
from volnet.limits import load_json

OPSET = 17
IR_VERSION = 8  # read by every onnxruntime since 1.10
INPUT, SCORES, PROBABILITIES = "pixels", "scores", "probabilities"


def _onnx():
    try:
        import onnx
    except ModuleNotFoundError:
        raise ModuleNotFoundError("ONNX export and import need the onnx package: pip install 'volnet[onnx]' "
                                  "(or pip install onnx)") from None
    return onnx


# -- export -------------------------------------------------------------------------------------

class _Graph:
    """The nodes and weights of a graph under construction: what a layer's to_onnx(graph, name, x)
    is given, to add its weights and nodes (and, for a layer made of layers, theirs)."""

    def __init__(self, onnx):
        self.onnx, self.nodes, self.weights = onnx, [], []

    def weight(self, name: str, array) -> str:
        """Add a float32 initializer; returns its name."""
        self.weights.append(self.onnx.numpy_helper.from_array(np.asarray(array, dtype=np.float32), name))
        return name

    def node(self, op: str, inputs: list[str], name: str, output: str | None = None, **attributes) -> str:
        """Add a node of the default domain; returns the name of its output value."""
        output = output or name
        self.nodes.append(self.onnx.helper.make_node(op, inputs, [output], name=name, **attributes))
        return output

    def layer(self, layer, name: str, x: str) -> str:
        """Add the nodes of a layer (Layer.to_onnx) fed the value x; returns its output value.

        Raises:
            TypeError: a layer with no ONNX form (named, with the layer types that have one).
        """
        if layer.to_onnx is None:
            exportable = sorted(name for name, kind in layer_types().items() if kind.to_onnx is not None)
            raise TypeError(f"{layer.label()} cannot be expressed in ONNX by volnet; the layers that can are "
                            f"{', '.join(exportable)}")
        return layer.to_onnx(self, name, x)


def onnx_model(model, normalization=None, class_names=None):
    """The onnx.ModelProto of a built model (graph in the module doc).

    Args:
        model: a built volnet model taking volumes (D, H, W) and giving class scores (C,).
        normalization: the volnet.data.Normalization it was trained with, or None (the
            graph then only scales the pixels to [0, 1], as volnet does).
        class_names: a name per class score, or None.

    Raises:
        TypeError: a layer ONNX cannot express (named).
        ValueError: the model is not built, or does not take volumes and give scores.
    """
    onnx = _onnx()
    helper = onnx.helper
    if not model.built or len(model.input_shape) != 3:
        raise ValueError(f"{model.label()} must be built for volumes D×H×W (images) to be exported to ONNX")
    out_shape = model.output_shape(model.input_shape)
    if len(out_shape) != 1:
        raise ValueError(f"{model.label()} gives outputs of shape {out_shape} per example; ONNX export wants "
                         f"class scores (C,)")
    depth = model.input_shape[0]
    mean = np.zeros(depth) if normalization is None else np.asarray(normalization.mean)
    std = np.ones(depth) if normalization is None else np.asarray(normalization.std)
    graph = _Graph(onnx)
    x = graph.node("Sub", [INPUT, graph.weight("normalization.mean", 255 * mean.reshape(1, depth, 1, 1))],
                   "normalization.sub")
    x = graph.node("Div", [x, graph.weight("normalization.std", 255 * std.reshape(1, depth, 1, 1))],
                   "normalization.div")
    scores = graph.layer(model, "", x)
    graph.node("Identity", [scores], "scores", output=SCORES)
    graph.node("Softmax", [SCORES], "softmax", output=PROBABILITIES, axis=1)
    float32 = onnx.TensorProto.FLOAT
    described = helper.make_graph(
        graph.nodes, "volnet", [helper.make_tensor_value_info(INPUT, float32, ["N", *model.input_shape])],
        [helper.make_tensor_value_info(PROBABILITIES, float32, ["N", out_shape[0]]),
         helper.make_tensor_value_info(SCORES, float32, ["N", out_shape[0]])],
        initializer=graph.weights,
        doc_string=f"{INPUT}: (N, {', '.join(map(str, model.input_shape))}) float32 pixel values 0-255; "
                   f"{PROBABILITIES} and {SCORES}: (N, {out_shape[0]}).")
    exported = helper.make_model(described, opset_imports=[helper.make_opsetid("", OPSET)],
                                 producer_name="volnet", ir_version=IR_VERSION)
    metadata = {"class_names": json.dumps(None if class_names is None else [str(name) for name in class_names]),
                "normalization": json.dumps(None if normalization is None else normalization.to_dict())}
    helper.set_model_props(exported, metadata)
    return exported


def export_onnx(model, path, normalization=None, class_names=None) -> None:
    """Write onnx_model(model, normalization, class_names) to `path`, atomically."""
    exported = onnx_model(model, normalization, class_names)
    write_atomically(path, lambda file: file.write(exported.SerializeToString()), what="ONNX model")


# -- import -------------------------------------------------------------------------------------

def _float(value) -> float:
    """An ONNX float attribute (float32) as the decimal it was written from: 7 significant digits."""
    return float(f"{value:.7g}")


def _collapse(pair):
    """(3, 3) -> 3, as volnet's architecture strings and configs write square windows."""
    return pair[0] if pair[0] == pair[1] else tuple(pair)


class _Refused(ValueError):
    """A node volnet cannot import (the message names the file, the node and its op)."""


class _Reader:
    """Turns the nodes of one ONNX graph into volnet layers (see the module doc)."""

    def __init__(self, path, graph, onnx):
        self.path, self.onnx = path, onnx
        self.constants = {}
        for tensor in graph.initializer:
            self.constants[tensor.name] = self._array(tensor, f"initializer {tensor.name!r}")
        if len(graph.sparse_initializer):
            raise ValueError(f"{path}: the graph has sparse initializers, which volnet does not read")
        self.nodes = []
        for node in graph.node:
            if node.op_type == "Constant" and node.domain in ("", "ai.onnx"):
                value = next((a for a in node.attribute if a.name == "value"), None)
                if value is None:
                    raise self.refuse(node, "a Constant without a tensor 'value'")
                self.constants[node.output[0]] = self._array(value.t, f"node {node.name!r}")
            elif node.op_type == "Identity" and node.input[0] in self.constants:  # PyTorch's shared weights
                self.constants[node.output[0]] = self.constants[node.input[0]]
            else:
                self.nodes.append(node)
        self.consumers = {}
        for node in self.nodes:
            for value in self.data_inputs(node):
                self.consumers.setdefault(value, []).append(node)
        self.outputs = {value.name for value in graph.output}

    def _array(self, tensor, what):
        try:
            return self.onnx.numpy_helper.to_array(tensor)
        except Exception as error:  # the tensor's bytes disagree with its declared shape or type
            raise ValueError(f"{self.path}: {what} cannot be read ({error})") from None

    def data_inputs(self, node) -> list[str]:
        return [value for value in node.input if value and value not in self.constants]

    def refuse(self, node, why: str) -> ValueError:
        return _Refused(f"{self.path}: node {node.name or '(unnamed)'!r} (op {node.op_type}): {why}")

    def attributes(self, node) -> dict:
        return {a.name: self.onnx.helper.get_attribute_value(a) for a in node.attribute}

    def window(self, node, attributes, window=None):
        """(kernel_shape, strides, pads, dilations) of a windowed node, checked (for from_onnx)."""
        return _window(self, node, attributes, window)

    def constant(self, node, position: int, what: str, required: bool = True):
        name = node.input[position] if position < len(node.input) else ""
        if not name:
            if required:
                raise self.refuse(node, f"its {what} is missing")
            return None
        if name not in self.constants:
            raise self.refuse(node, f"its {what} ({name!r}) is computed in the graph; volnet needs it as a constant")
        return self.constants[name].astype(np.float32)

    # -- a node -> a layer, built for its input shape and given its weights ----------------------
    def layer_of(self, node, shape):
        """The volnet layer that computes `node` (None for the identity), built for one example
        of `shape`, and its output shape."""
        readers = _readers()
        read = readers.get(node.op_type) if node.domain in ("", "ai.onnx") else None
        if read is None:
            raise self.refuse(node, f"no volnet layer computes it; volnet imports "
                                    f"{', '.join(sorted(readers))}, residual Adds, a leading Sub/Div "
                                    f"(the normalisation) and a final Softmax")
        if len(self.data_inputs(node)) != 1 or len([out for out in node.output if out]) != 1:
            raise self.refuse(node, "volnet imports nodes of one computed input and one output")
        try:
            made = read(self, node, self.attributes(node), shape)
            if made is None:
                return None, shape
            layer, weights = made if isinstance(made, tuple) else (made, {})
            out = layer.build(shape)
        except _Refused:
            raise
        except (TypeError, ValueError) as error:  # the layer's own checks: sizes, groups, fit
            raise self.refuse(node, f"it does not fit its input of shape {tuple(shape)}: {error}") from None
        for part, array in weights.items():
            if array is None:
                continue
            target = getattr(layer, part).data
            if array.shape != target.shape:
                raise self.refuse(node, f"its {part} has shape {array.shape}, but for an input of shape "
                                        f"{tuple(shape)} the layer needs {target.shape}")
            target[...] = array
        return layer, out


def _window(reader, node, attributes, window=None):
    """kernel_shape, strides, pads and dilations of a Conv or pooling node, checked."""
    window = tuple(attributes.get("kernel_shape", window or ()))
    if len(window) != 2:
        raise reader.refuse(node, f"volnet has 2-D windows only; this one is {list(window)}")
    if attributes.get("auto_pad", b"NOTSET") not in (b"NOTSET", b"VALID"):
        raise reader.refuse(node, f"auto_pad={attributes['auto_pad'].decode()}; volnet imports explicit pads only")
    pads = tuple(attributes.get("pads", (0, 0, 0, 0)))
    if pads[:2] != pads[2:]:
        raise reader.refuse(node, f"pads {list(pads)} differ at the two ends of an axis; volnet pads both ends alike")
    return window, tuple(attributes.get("strides", (1, 1))), pads[:2], tuple(attributes.get("dilations", (1, 1)))


def _read_conv(reader, node, attributes, shape):
    weight = reader.constant(node, 1, "weight")
    if weight.ndim != 4:
        raise reader.refuse(node, f"its weight has shape {weight.shape}; volnet's Conv2D takes (K, D/G, FH, FW)")
    window, strides, pads, dilations = _window(reader, node, attributes, weight.shape[2:])
    bias = reader.constant(node, 2, "bias", required=False)
    layer = Conv2D(weight.shape[0], _collapse(window), stride=_collapse(strides), pad=_collapse(pads),
                   bias=bias is not None, dilation=_collapse(dilations), groups=int(attributes.get("group", 1)))
    return layer, {"weight": weight, "bias": bias}


def _read_pool(kind):
    def read(reader, node, attributes, shape):
        window, strides, pads, dilations = _window(reader, node, attributes)
        if dilations != (1, 1):
            raise reader.refuse(node, f"dilations {list(dilations)}; volnet's pooling windows are not dilated")
        if kind is AvgPool2D and any(pads) and not attributes.get("count_include_pad", 0):
            raise reader.refuse(node, "count_include_pad=0 with padding; volnet's AvgPool2D counts the padding "
                                      "as zeros (count_include_pad=1)")
        stride = None if strides == window else _collapse(strides)  # volnet's default stride is the window
        return kind(_collapse(window), stride=stride, pad=_collapse(pads))
    return read


def _read_gemm(reader, node, attributes, shape):
    if attributes.get("transA", 0) or _float(attributes.get("alpha", 1.0)) != 1 or \
            _float(attributes.get("beta", 1.0)) != 1:
        raise reader.refuse(node, "volnet's Linear is Gemm with transA=0, alpha=1 and beta=1")
    weight = reader.constant(node, 1, "weight")
    weight = weight if attributes.get("transB", 0) else weight.T
    bias = reader.constant(node, 2, "bias", required=False)
    if bias is not None:
        if bias.size != weight.shape[0]:
            raise reader.refuse(node, f"its bias has {bias.size} numbers for {weight.shape[0]} outputs")
        bias = bias.reshape(-1)
    return Linear(weight.shape[0], bias=bias is not None), {"weight": np.ascontiguousarray(weight), "bias": bias}


def _read_matmul(reader, node, attributes, shape):
    weight = reader.constant(node, 1, "weight")
    if weight.ndim != 2 or len(shape) != 1:
        raise reader.refuse(node, f"volnet reads a MatMul of vectors by a constant matrix as a Linear without bias; "
                                  f"here {tuple(shape)} by {weight.shape}")
    return Linear(weight.shape[1], bias=False), {"weight": np.ascontiguousarray(weight.T)}


def _read_batchnorm(reader, node, attributes, shape):
    if attributes.get("training_mode", 0):
        raise reader.refuse(node, "training_mode=1; volnet imports batch norm in its inference form")
    gamma, beta, mean, var = (reader.constant(node, position, what)
                              for position, what in enumerate(("scale", "bias", "mean", "variance"), start=1))
    layer = BatchNorm(momentum=_float(1 - _float(attributes.get("momentum", 0.9))),
                      eps=_float(attributes.get("epsilon", 1e-5)))
    return layer, {"gamma": gamma, "beta": beta, "running_mean": mean, "running_var": var}


def _read_flatten(reader, node, attributes, shape):
    if attributes.get("axis", 1) != 1:
        raise reader.refuse(node, f"axis={attributes['axis']}; volnet flattens each example (axis=1)")
    following = reader.consumers.get(node.output[0], [])
    # a vector is flat already (after GlobalAveragePool), and volnet's Linear flattens itself
    if len(shape) == 1 or (len(following) == 1 and following[0].op_type == "Gemm"):
        return None
    return Flatten()


# each ONNX op -> (reader, node, attributes, input shape) -> a layer, (a layer, {part: array}) for
# a layer with weights, or None for a node that computes the identity
_IMPORTS = {
    "Conv": _read_conv,
    "MaxPool": _read_pool(MaxPool2D),
    "AveragePool": _read_pool(AvgPool2D),
    "GlobalAveragePool": lambda reader, node, attributes, shape: GlobalAvgPool2D(),
    "Gemm": _read_gemm,
    "MatMul": _read_matmul,
    "Flatten": _read_flatten,
    "BatchNormalization": _read_batchnorm,
    "Relu": lambda reader, node, attributes, shape: ReLU(),
    "LeakyRelu": lambda reader, node, attributes, shape: LeakyReLU(_float(attributes.get("alpha", 0.01))),
    "Sigmoid": lambda reader, node, attributes, shape: Sigmoid(),
    "Tanh": lambda reader, node, attributes, shape: Tanh(),
    "Dropout": lambda reader, node, attributes, shape: None,
    "Identity": lambda reader, node, attributes, shape: None,
}


def _readers() -> dict:
    """_IMPORTS and the ops that registered layer types read themselves (Layer.onnx_ops, from_onnx)."""
    readers = dict(_IMPORTS)
    for kind in layer_types().values():
        for op in kind.onnx_ops:
            readers.setdefault(op, kind.from_onnx)
    return readers


def _is_join(reader, node) -> bool:
    return node.op_type == "Add" and len(reader.data_inputs(node)) == 2


def _chain(reader, value, shape, in_branch: bool, start=None):
    """Layers from `value` (of one example's `shape`) on, until the graph ends or, in a
    branch, an Add joins it with another. Returns (layers, last value, its shape, the Add or None)."""
    layers = []
    while True:
        users = [start] if start is not None else reader.consumers.get(value, [])
        start = None
        if not users:
            return layers, value, shape, None
        if len(users) > 2:
            raise reader.refuse(users[0], f"its input {value!r} feeds {len(users)} nodes; volnet imports chains "
                                          f"whose values fork in two at most (residual blocks)")
        if len(users) == 2:
            block, value, shape = _residual(reader, value, shape, users)
            layers.append(block)
            continue
        node = users[0]
        if _is_join(reader, node):
            if not in_branch:
                raise reader.refuse(node, "it adds two values that do not fork from one (not a residual block)")
            return layers, value, shape, node
        if node.op_type == "Softmax":
            if reader.consumers.get(node.output[0]) or reader.attributes(node).get("axis", -1) not in (1, -1) \
                    or len(shape) != 1:
                raise reader.refuse(node, "volnet imports a Softmax over the class scores at the end of the graph "
                                          "only")
            return layers, node.output[0], shape, None
        layer, shape = reader.layer_of(node, shape)
        layers += [] if layer is None else [layer]
        value = node.output[0]


def _residual(reader, value, shape, users):
    """The Residual for a value that forks into two branches meeting in one Add."""
    branches = []
    for node in users:
        if _is_join(reader, node):  # the identity shortcut
            branches.append(([], value, shape, node))
        else:
            branches.append(_chain(reader, value, shape, in_branch=True, start=node))
    joins = {id(branch[3]) for branch in branches}
    if None in (branch[3] for branch in branches) or len(joins) != 1:
        raise reader.refuse(users[0], f"the two branches from {value!r} do not meet in one Add; volnet imports "
                                      f"residual blocks (body + shortcut) only")
    add = branches[0][3]
    (body, _, body_shape, _), (shortcut, _, shortcut_shape, _) = sorted(branches, key=lambda b: -len(b[0]))
    if body_shape != shortcut_shape:
        raise reader.refuse(add, f"it adds values of shapes {body_shape} and {shortcut_shape}")
    projection = None if not shortcut else shortcut[0] if len(shortcut) == 1 else Sequential(shortcut)
    block = Residual(body, projection)
    block.build(shape)
    return block, add.output[0], body_shape


def _input(reader, graph):
    """The graph's one computed input and the shape (D, H, W) of one example."""
    inputs = [value for value in graph.input if value.name not in reader.constants]
    if len(inputs) != 1:
        raise ValueError(f"{reader.path}: the graph has {len(inputs)} inputs ({', '.join(v.name for v in inputs)}); "
                         f"volnet imports graphs of one input, a batch of images (N, D, H, W)")
    value = inputs[0]
    tensor = value.type.tensor_type
    dims = [dim.dim_value if dim.HasField("dim_value") else None for dim in tensor.shape.dim]
    if tensor.elem_type != reader.onnx.TensorProto.FLOAT or len(dims) != 4 or None in dims[1:]:
        raise ValueError(f"{reader.path}: input {value.name!r} must be float32 (N, D, H, W) with D, H and W fixed; "
                         f"it is {reader.onnx.TensorProto.DataType.Name(tensor.elem_type)} of shape {dims}")
    return value.name, tuple(dims[1:])


def _normalization(reader, value, depth):
    """A leading Sub and/or Div by per-channel constants, as volnet's Normalization (or None),
    and the value after them."""
    mean, std = np.zeros(depth), np.full(depth, 255.0)
    found = False
    for op, target in (("Sub", mean), ("Div", std)):
        users = reader.consumers.get(value, [])
        if len(users) == 1 and users[0].op_type == op and users[0].input[0] == value:
            constant = reader.constant(users[0], 1, "constant")
            if constant.size not in (1, depth):
                raise reader.refuse(users[0], f"its constant has {constant.size} numbers for {depth} channels")
            target[...] = constant.reshape(-1)
            value, found = users[0].output[0], True
    if not found:
        return None, value
    from volnet.data import Normalization

    return Normalization(mean / 255, std / 255), value


def _refuse_external_data(path, proto, onnx):
    """Refuse weights kept in other files: a path inside a file volnet reads must not make it open others."""
    tensors = [*proto.graph.initializer, *(attribute.t for node in proto.graph.node for attribute in node.attribute
                                           if attribute.type == onnx.AttributeProto.TENSOR)]
    for tensor in tensors:
        if tensor.data_location == onnx.TensorProto.EXTERNAL:
            raise ValueError(f"{path}: tensor {tensor.name!r} keeps its data in another file; volnet reads only "
                             f"weights stored in the .onnx file itself (onnx.save_model(model, path, "
                             f"save_as_external_data=False) writes them there)")


def read_onnx(path):
    """The onnx.ModelProto of a file, checked, with errors that name the file."""
    onnx = _onnx()

    def damaged(error):
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        return ValueError(f"{path} is not a valid ONNX model (truncated or corrupt?): {first}")

    try:
        proto = onnx.load(str(path), load_external_data=False)
    except OSError:
        raise
    except Exception as error:  # protobuf's DecodeError and its kin
        raise damaged(error) from None
    _refuse_external_data(path, proto, onnx)
    try:
        onnx.checker.check_model(proto)
    except Exception as error:  # onnx's ValidationError
        raise damaged(error) from None
    return proto


def import_onnx(path):
    """Read an ONNX model of the subset volnet exports (module doc) into a volnet model.

    Returns:
        (model in inference mode, {"normalization": dict or None, "class_names": list or None}).

    Raises:
        ValueError: a damaged file, or a node volnet cannot import (its name and op are named).
        ModuleNotFoundError: the onnx package is not installed.
    """
    onnx = _onnx()
    proto = read_onnx(path)
    reader = _Reader(path, proto.graph, onnx)
    value, input_shape = _input(reader, proto.graph)
    normalization, value = _normalization(reader, value, input_shape[0])
    layers, value, shape, _ = _chain(reader, value, input_shape, in_branch=False)
    if value not in reader.outputs:
        raise ValueError(f"{path}: the chain of layers ends in {value!r}, which is not an output of the graph")
    model = Sequential(layers)
    model.build(input_shape)
    properties = {entry.key: entry.value for entry in proto.metadata_props}
    try:
        class_names = load_json(properties.get("class_names", "null"), f"{path}: its metadata entry 'class_names'")
    except ValueError:
        raise ValueError(f"{path}: its metadata entry 'class_names' is not JSON") from None
    return model.eval(), {"normalization": None if normalization is None else normalization.to_dict(),
                          "class_names": class_names}
