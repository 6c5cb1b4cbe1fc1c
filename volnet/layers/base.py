"""What every layer shares: parameters with gradients, shape checks, mode, naming, and the
protocol through which a layer says what it is.

A layer transforms a batch of volumes (N, D, H, W) — or of vectors (N, D) — into another
through a differentiable function. It holds:
- its hyperparameters, as attributes named like its constructor arguments;
- its learnable arrays as `Parameter`s (`.data` and `.grad`), found by walking attributes,
  so optimizers, savers and the summary see every layer the same way; running statistics
  are `Buffer`s: saved with the model, never trained, no gradient;
- `input_shape`, the shape of one example, once built. Layers build themselves from the
  first input they see, or from `build(input_shape)` when a model infers shapes.

What a layer *is* — its architecture word, its saved configuration, its cost, its description
in the summary and the diagram, its PyTorch twin, its gradient-check cases and its ONNX form —
it answers itself (the "what the layer is" methods of `Layer`), so that the modules which need
it (volnet.models, volnet.viz.diagram, volnet.bench, volnet.gradients, volnet.interop) ask
the layer instead of testing its type. docs/contributing.md ("Add a layer") lists them.
"""

from __future__ import annotations

import inspect
import math

import numpy as np

from volnet.layers.cost import Cost

DEFAULT_DTYPE = np.dtype(np.float32)


class Parameter:
    """A learnable array (`data`) and the gradient of the loss with respect to it (`grad`)."""

    def __init__(self, data: np.ndarray):
        self.data = data
        self.grad = np.zeros_like(data)

    def __repr__(self):
        return f"Parameter(shape={self.data.shape}, dtype={self.data.dtype})"


class Buffer:
    """An array saved with the model that is never trained and has no gradient (`data`):
    batch norm's running statistics, as PyTorch's register_buffer."""

    def __init__(self, data: np.ndarray):
        self.data = data

    def __repr__(self):
        return f"Buffer(shape={self.data.shape}, dtype={self.data.dtype})"


def format_shape(shape) -> str:
    """One example's shape the way the notes write it: W×H×D for a volume, D for a vector."""
    shape = tuple(shape)
    if len(shape) == 3:
        depth, height, width = shape
        return f"{width}×{height}×{depth}"
    return "×".join(str(s) for s in shape)


class Layer:
    """Base class of every layer.

    The computation. A subclass defines `output_shape` (unless it keeps the shape), `_forward(x)`
    and `_backward(dout)`, and may define `_create_parameters` (called once by build) and
    `_backward_parameters(dout)` (the parameters' gradients without dx). The public `forward(x)`
    checks x once (`check_input`: type, dtype, shape; builds on first use), calls `_forward`
    and records the shape of the batch it returns (`last_output_shape`); `backward(dout)` first
    checks that dout has exactly that shape — one tuple comparison per call — so a wrong dout
    gives an error naming the layer rather than a broadcasting traceback or, worse, a silently
    wrong gradient; then it calls `_backward`.

    What the layer is (each has a default that suits a layer without parameters that keeps
    its input's shape; see docs/contributing.md):
        word, from_word       its architecture-string word (volnet.layers.words.Word) and
                              how a parsed word makes the layer
        config, input_arguments, spec, from_spec
                              what a saved model stores of it and how it is rebuilt
        cost, sharing         parameters, multiply-adds, activation memory, statistics;
                              a conv layer's parameter sharing
        summary_name, summary_parts, describe, elementwise, diagram_shortcut
                              its row in the summary (and the rows nested under it), its
                              words in the model diagram, whether it draws a box there
        compute_bound         whether the benchmark turns its multiply-adds into GFLOP/s
        absorbs               whether it can do the next layer's work in its own passes
                              (a Sequential then runs the two as one)
        gradient_cases        its cases for the numerical gradient check
        torch_modules         its PyTorch twin (None: it has none)
        to_onnx               its ONNX nodes (None: ONNX export refuses it)
        onnx_ops, from_onnx   the ONNX ops it imports from, and how a node makes the layer
        to_convnetjs          its ConvNetJS form (None: ConvNetJS export refuses it)
    A class joins with @volnet.layers.registry.register.
    """

    word = None  # a volnet.layers.words.Word, for a layer an architecture string can name
    input_arguments: tuple[str, ...] = ()  # constructor arguments that fix the input shape (in_depth)
    elementwise = False  # keeps the volume it is given: the diagram writes it on an arrow, not as a box
    compute_bound = False  # its work is arithmetic, not memory traffic (conv, fully connected)
    torch_modules = None  # def torch_modules(self) -> list[volnet.layers.twin.Module], for a built layer
    to_onnx = None  # def to_onnx(self, graph, name: str, x: str) -> str, the name of its output value
    onnx_ops: tuple[str, ...] = ()  # ONNX op types ONNX import reads as this layer, through from_onnx
    from_onnx = None  # @classmethod from_onnx(cls, reader, node, attributes, shape) -> (layer, {part: array})
    to_convnetjs = None  # def to_convnetjs(self, net): calls the one method of net that writes its ConvNetJS form

    def __init__(self):
        self.training = True
        self.index: int | None = None  # 1-based position in a model, for messages
        self.input_shape: tuple[int, ...] | None = None
        self.dtype = DEFAULT_DTYPE
        self._checked_shape = None
        self.last_output_shape: tuple[int, ...] | None = None  # (N, ...) of the last forward's output
        # see record(): the last forward's output and the last backward's dout, kept on request
        self.recording = False
        self.recorded_output: np.ndarray | None = None
        self.recorded_gradient: np.ndarray | None = None
        # see absorbs(): the label() method of the other layer of the pair the last forward ran this
        # one in, if it did (not the layer itself: attributes that are layers are this layer's children)
        self.paired_with = None
        self.pair_output_shape: tuple[int, ...] | None = None

    # -- naming ---------------------------------------------------------------------------
    def config(self) -> dict:
        """The constructor arguments that rebuild this layer (JSON-friendly values)."""
        names = [n for n in inspect.signature(type(self).__init__).parameters if n != "self"]
        config = {}
        for name in names:
            value = getattr(self, name)
            # a switch such as bias=True becomes the Parameter itself once built
            config[name] = True if isinstance(value, Parameter) else value
        return config

    def _changed_config(self) -> dict:
        defaults = {n: p.default for n, p in inspect.signature(type(self).__init__).parameters.items()}
        return {k: v for k, v in self.config().items()
                if k not in self.input_arguments and defaults.get(k, inspect.Parameter.empty) != v}

    def label(self) -> str:
        """How messages name the layer: e.g. "Conv2D #2 (filters=64, size=5, stride=2)"."""
        position = f" #{self.index}" if self.index else ""
        settings = ", ".join(f"{k}={v!r}" for k, v in self._changed_config().items())
        return f"{type(self).__name__}{position}" + (f" ({settings})" if settings else "")

    def __repr__(self):
        settings = ", ".join(f"{k}={v!r}" for k, v in self._changed_config().items())
        return f"{type(self).__name__}({settings})"

    def number_layers(self):
        """Composite layers pass their position on to the layers inside (for messages)."""

    # -- shapes -----------------------------------------------------------------------------
    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        """The shape of one output example for one input example; raises ValueError if the
        layer does not fit. Elementwise layers keep the shape."""
        return tuple(input_shape)

    def field_through(self, field):
        """The receptive field (volnet.ops.geometry.ReceptiveField2D) of one output neuron, given
        that of one input neuron. Elementwise layers keep it; windowed, fully-connected and
        composite layers say what they do to it."""
        return field

    def expect_rank(self, input_shape, ranks: tuple[int, ...], what: str):
        """Raise a clear error unless one example has one of the given ranks."""
        if len(input_shape) not in ranks:
            raise ValueError(
                f"{self.label()} wants each example to be {what}; got examples of shape {tuple(input_shape)} "
                f"(a batch of shape (N, {', '.join(map(str, input_shape))}))."
            )

    def build(self, input_shape, dtype=None, rng: np.random.Generator | None = None) -> tuple[int, ...]:
        """Fix the input shape of one example, create the parameters, return the output shape."""
        input_shape = tuple(int(s) for s in input_shape)
        out = self.output_shape(input_shape)
        if self.input_shape is None:
            self.dtype = np.dtype(dtype or self.dtype)
            self._create_parameters(input_shape, rng if rng is not None else np.random.default_rng())
        self.input_shape = input_shape
        self._checked_shape = input_shape
        return out

    def _create_parameters(self, input_shape, rng):
        """Layers with parameters create them here, from the shape of one input example."""

    @property
    def built(self) -> bool:
        return self.input_shape is not None

    def check_input(self, x) -> np.ndarray:
        """Check a batch once at the top of forward; build on first use; cast to the layer's dtype."""
        if not isinstance(x, np.ndarray):
            raise TypeError(f"{self.label()} wants a NumPy array, got {type(x).__name__}")
        if not np.issubdtype(x.dtype, np.floating):
            raise TypeError(
                f"{self.label()} wants floating-point numbers (float32 or float64), got dtype {x.dtype}. "
                f"Convert first, e.g. x.astype(np.float32) / 255 for 8-bit images."
            )
        if x.ndim < 1 or len(x) == 0:
            raise ValueError(f"{self.label()} got an empty batch of shape {x.shape}")
        if not self.built:
            self.build(x.shape[1:], dtype=x.dtype)
        elif x.shape[1:] != self._checked_shape:
            expected = self.input_shape
            if len(expected) == 3 and x.shape[1:] == (*expected[1:], expected[0]):
                raise ValueError(f"{self.label()} takes batches (N, D, H, W) = (N, {', '.join(map(str, expected))}); "
                                 f"got {x.shape}, which is channel-last (N, H, W, D). volnet wants the depth first: "
                                 f"pass x.transpose(0, 3, 1, 2)")
            self.output_shape(x.shape[1:])
            self._checked_shape = x.shape[1:]
        return x if x.dtype == self.dtype else x.astype(self.dtype)

    # -- computation ------------------------------------------------------------------------
    def forward(self, x: np.ndarray) -> np.ndarray:
        """The output batch (N, ...) for an input batch x (N, ...); keeps what backward needs.

        Raises:
            TypeError, ValueError: x is not a floating-point array of a shape the layer takes
                (check_input; the message names the layer).
        """
        out = self._forward(self.check_input(x))
        self.last_output_shape = out.shape
        self.paired_with = self.pair_output_shape = None  # its cache is its own again, not a pair's
        if self.recording:
            self.recorded_output = out
        return out

    def backward(self, dout: np.ndarray) -> np.ndarray:
        """dx (the input's shape) for dout, the gradient of the loss with respect to the last
        forward's output (its shape); adds the parameters' gradients onto their .grad.

        Raises:
            RuntimeError, TypeError, ValueError: see _reject_dout.
        """
        self._check_dout(dout)
        return self._backward(dout)

    def backward_parameters(self, dout: np.ndarray):
        """Only the parameters' gradients for dout, no dx: for a net's first layer, whose dx
        (the gradient of the images) nobody uses. Checks dout as backward does."""
        self._check_dout(dout)
        self._backward_parameters(dout)

    def _forward(self, x: np.ndarray) -> np.ndarray:
        """The computation of forward, for a checked x of the layer's dtype."""
        raise NotImplementedError(f"{type(self).__name__} defines no _forward")

    def _backward(self, dout: np.ndarray) -> np.ndarray:
        """The computation of backward, for a dout of the last output's shape."""
        raise NotImplementedError(f"{type(self).__name__} defines no _backward")

    def _backward_parameters(self, dout: np.ndarray):
        """Layers that can skip computing dx override this."""
        self._backward(dout)

    def _check_dout(self, dout):
        if getattr(dout, "shape", None) != self.last_output_shape:
            self._reject_dout(dout)
        if self.recording:
            self.recorded_gradient = dout

    def _reject_dout(self, dout):
        """Raise the error for a dout that backward cannot take.

        Raises:
            RuntimeError: forward has not run yet, so there is no output to differentiate.
            TypeError: dout is not a NumPy array.
            ValueError: dout's shape differs from that of the last forward's output.
        """
        expected = self.last_output_shape
        if expected is None and self.paired_with is not None:
            raise RuntimeError(f"{self.label()}: its last forward ran as one pass with {self.paired_with()} "
                               f"(a Sequential runs a pair as one where Layer.absorbs says so), which has no "
                               f"backward of this layer alone; call the model's backward, or run forward on this "
                               f"layer by itself first")
        if expected is None:
            raise RuntimeError(f"{self.label()}: backward called before forward; run forward(x) on a batch first, "
                               f"then backward(dout) with the gradient of the loss with respect to its output")
        if not isinstance(dout, np.ndarray):
            raise TypeError(f"{self.label()}: backward wants dout as a NumPy array of shape {expected}, "
                            f"got {type(dout).__name__}")
        raise ValueError(f"{self.label()}: backward got dout of shape {dout.shape}, but the last forward gave an output "
                         f"of shape {expected}; dout is the gradient of the loss with respect to that output and "
                         f"must have its shape")

    def __call__(self, x):
        return self.forward(x)

    # -- two layers in one pass -------------------------------------------------------------
    def absorbs(self, following: "Layer") -> bool:
        """Whether this layer can do `following`'s work too (the layer after it in a Sequential):
        forward_absorbing(x, following) then gives following.forward(self.forward(x)) and
        backward_absorbing the gradient of this layer's input, in fewer passes over the
        activations, with the same results to rounding. A Sequential asks at each forward, of
        each pair of neighbours where neither records (record() wants every layer's own output).
        By default no; batch norm absorbs the ReLU after it, a ReLU the max pooling after it."""
        return False

    def forward_absorbing(self, x: np.ndarray, following: "Layer") -> np.ndarray:
        """following's output for this layer's input x, as forward checks it (absorbs says when).
        Neither layer then keeps an output of its own: a backward of either one alone raises, and
        backward_absorbing is the pair's backward."""
        x = self.check_input(x)
        middle = x.shape[1:] if self.elementwise else self.output_shape(x.shape[1:])  # following's input
        if middle != following._checked_shape:  # another input size than last time: does following fit it?
            following.output_shape(middle)
            following._checked_shape = middle
        out = self._forward_absorbing(x, following)
        self.last_output_shape = following.last_output_shape = None
        self.paired_with, following.paired_with = following.label, self.label
        self.pair_output_shape = out.shape
        return out

    def backward_absorbing(self, dout: np.ndarray, following: "Layer") -> np.ndarray:
        """dx for dout, the gradient of the loss with respect to the pair's output (the last
        forward_absorbing's); adds both layers' parameters' gradients.

        Raises:
            RuntimeError, TypeError, ValueError: as backward, for the pair's output.
        """
        if self.pair_output_shape is None or following.paired_with is None:
            raise RuntimeError(f"{self.label()} with {following.label()}: backward_absorbing needs the pair's "
                               f"forward_absorbing first (none ran, or a forward of one of the two alone ran since)")
        if getattr(dout, "shape", None) != self.pair_output_shape:
            raise ValueError(f"{self.label()} with {following.label()}: backward got dout of shape "
                             f"{getattr(dout, 'shape', None)}, but their last forward as one pass gave an output of "
                             f"shape {self.pair_output_shape}; dout must have that shape")
        return self._backward_absorbing(dout, following)

    def _forward_absorbing(self, x: np.ndarray, following: "Layer") -> np.ndarray:
        """The computation of forward_absorbing, for a checked x; layers whose absorbs can say yes define it."""
        raise NotImplementedError(f"{type(self).__name__} absorbs no layer")

    def _backward_absorbing(self, dout: np.ndarray, following: "Layer") -> np.ndarray:
        """The computation of backward_absorbing."""
        raise NotImplementedError(f"{type(self).__name__} absorbs no layer")

    # -- parameters and state ---------------------------------------------------------------
    def children(self) -> list[tuple[str, "Layer"]]:
        """The layers inside this one, with their names."""
        found = []
        for name, value in vars(self).items():
            if isinstance(value, Layer):
                found.append((name, value))
            elif isinstance(value, (list, tuple)) and value and all(isinstance(v, Layer) for v in value):
                found.extend((f"{name}.{i}" if name != "layers" else str(i), v) for i, v in enumerate(value))
        return found

    def named_layers(self, prefix: str = "") -> list[tuple[str, "Layer"]]:
        """This layer and every layer inside it, depth first, by dotted name ("" for this one,
        then e.g. "0", "3.body.1"): the one walk over the layer tree."""
        found = [(prefix.rstrip("."), self)]
        for name, child in self.children():
            found.extend(child.named_layers(prefix + name + "."))
        return found

    def record(self, on: bool = True) -> "Layer":
        """Keep (on=True) or stop keeping each layer's activations and their gradients, here
        and in every layer inside: after a forward, `layer.recorded_output` is its output
        (N, ...); after a backward, `layer.recorded_gradient` is dout, the gradient of what
        was differentiated with respect to that output (same shape). Off by default, since it
        holds one more reference to every activation. With on=False both are cleared.

        Example:
            >>> model.record(); scores = model.forward(x); model.backward(dscores)
            >>> model[0].recorded_output.shape, model[0].recorded_gradient.shape
        """
        for _, layer in self.named_layers():
            layer.recording = on
            if not on:
                layer.recorded_output = layer.recorded_gradient = None
        return self

    def generators(self) -> dict[str, np.random.Generator]:
        """Every random generator held by this layer or the layers inside it (dropout's), by
        dotted name, e.g. {"7.rng": ...} for a Dropout at position 7 of a Sequential."""
        return {f"{prefix}.{name}" if prefix else name: value for prefix, layer in self.named_layers()
                for name, value in vars(layer).items() if isinstance(value, np.random.Generator)}

    def _arrays(self) -> dict[str, Parameter | Buffer]:
        """Every Parameter and Buffer of this layer and the layers inside it, by dotted name."""
        return {f"{prefix}.{name}" if prefix else name: value for prefix, layer in self.named_layers()
                for name, value in vars(layer).items() if isinstance(value, (Parameter, Buffer))}

    def parameters(self) -> dict[str, Parameter]:
        """The Parameters (trained) of this layer and the layers inside it, by dotted name."""
        return {name: p for name, p in self._arrays().items() if isinstance(p, Parameter)}

    def buffers(self) -> dict[str, Buffer]:
        """The Buffers (saved, not trained: running statistics) of this layer and those inside it."""
        return {name: b for name, b in self._arrays().items() if isinstance(b, Buffer)}

    @property
    def params(self) -> dict[str, np.ndarray]:
        return {name: p.data for name, p in self.parameters().items()}

    @property
    def grads(self) -> dict[str, np.ndarray]:
        return {name: p.grad for name, p in self.parameters().items()}

    def state(self) -> dict[str, np.ndarray]:
        """Every array that defines the layer: parameters and buffers (running statistics)."""
        return {name: p.data for name, p in self._arrays().items()}

    def load_state(self, state: dict[str, np.ndarray]):
        """Copy arrays in by name; names and shapes must match exactly."""
        own = self._arrays()
        missing, unexpected = sorted(set(own) - set(state)), sorted(set(state) - set(own))
        if missing or unexpected:
            raise ValueError(f"state does not match {self.label()}: missing {missing}, unexpected {unexpected}")
        for name, p in own.items():
            value = np.asarray(state[name])
            if value.shape != p.data.shape:
                raise ValueError(f"{name}: saved shape {value.shape} does not match the layer's {p.data.shape}")
            p.data[...] = value

    def zero_grad(self):
        for p in self.parameters().values():
            p.grad[...] = 0

    def to(self, dtype) -> "Layer":
        """Cast every parameter (and its gradient) and buffer, here and inside, and later inputs, to dtype."""
        for _, layer in self.named_layers():
            layer.dtype = np.dtype(dtype)
        for p in self._arrays().values():
            p.data = p.data.astype(dtype)
            if isinstance(p, Parameter):
                p.grad = p.grad.astype(dtype)
        return self

    def train(self, mode: bool = True) -> "Layer":
        """Switch training (True) or inference (False) mode, here and in the layers inside."""
        for _, layer in self.named_layers():
            layer.training = mode
        return self

    def eval(self) -> "Layer":
        return self.train(False)

    def parameter_data(self, name):
        """The array of a Parameter or Buffer by name, or None when it is switched off (bias=False)."""
        value = getattr(self, name)
        return value.data if isinstance(value, (Parameter, Buffer)) else None

    def _accumulate(self, **grads):
        """Add freshly computed gradients onto the Parameters' .grad."""
        for name, value in grads.items():
            if value is not None:
                getattr(self, name).grad += value

    # -- what the layer is: the protocol the summary, saving, diagram, bench, gradient check and
    #    exporters ask (docs/contributing.md, "Add a layer") ---------------------------------------
    @classmethod
    def from_word(cls, numbers: tuple, options: dict, rng: np.random.Generator | None) -> "Layer":
        """The layer an architecture-string word stands for.

        Args:
            numbers: the groups of `word.pattern` matched in the head, as strings (None when absent).
            options: the parsed suffixes (volnet.layers.words.parse_suffixes), e.g. {"s": 2, "nobias": True}.
            rng: seeds layers that draw random numbers (None: unseeded).

        By default the layer with its default settings, for a word of neither numbers nor suffixes.
        """
        return cls()

    def spec(self, spec_of) -> dict:
        """What a saved model stores of this layer besides its type (volnet.models.serialize):
        {"config": self.config()}; a layer made of layers gives theirs through spec_of(layer)."""
        return {"config": self.config()}

    @classmethod
    def from_spec(cls, spec: dict, layer_of) -> "Layer":
        """The unbuilt layer that spec (from `spec`) describes; layer_of(spec) rebuilds a layer inside.
        The input_arguments are left out: they would create the weights at once, before the
        memory budget is checked; building fixes them from the input shape.

        Raises:
            KeyError, TypeError: a malformed spec (the caller names it).
        """
        config = spec["config"]
        if not isinstance(config, dict):
            raise TypeError("'config' must be a dict")
        return cls(**{key: value for key, value in config.items() if key not in cls.input_arguments})

    def cost(self, input_shape, output_shape) -> Cost:
        """What one example costs this layer (volnet.layers.cost.Cost; conventions in
        volnet.models.summary). By default: its built parameters, unknown multiply-adds, its output."""
        own = [value for value in vars(self).values() if isinstance(value, Parameter)]
        return Cost(sum(p.data.size for p in own), None, math.prod(output_shape))

    def sharing(self, input_shape, output_shape):
        """A conv layer's volnet.layers.cost.ParameterSharing for one input volume; None for other layers."""
        return None

    def summary_name(self) -> str:
        """The layer column of its summary row: repr(self)."""
        return repr(self)

    def summary_parts(self) -> list[tuple[str, "Layer"]]:
        """Layers whose rows the summary nests under this one's, each fed this layer's input,
        with what their number adds to this one's (a residual block: its body "" and its shortcut
        ".shortcut"); [] for a layer of no parts."""
        return []

    def describe(self) -> str:
        """A short name in the notes' words, for the model diagram: "conv 3×3, 32 filters"."""
        return type(self).__name__.lower()

    def diagram_shortcut(self) -> str | None:
        """What the skip connection over its box does ("identity", a projection's words), or None."""
        return None

    @classmethod
    def gradient_cases(cls) -> tuple:
        """The volnet.gradients.numerical.LayerCase(s) that check this layer type's gradients."""
        return ()
