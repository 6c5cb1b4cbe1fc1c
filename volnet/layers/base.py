"""What every layer shares: parameters with gradients, shape checks, mode, naming.

A layer transforms a batch of volumes (N, D, H, W) — or of vectors (N, D) — into another
through a differentiable function. It holds:
- its hyperparameters, as attributes named like its constructor arguments;
- its learnable arrays as `Parameter`s (`.data` and `.grad`), found by walking attributes,
  so optimizers, savers and the summary see every layer the same way; running statistics
  are Parameters with trainable=False: saved with the model, never trained;
- `input_shape`, the shape of one example, once built. Layers build themselves from the
  first input they see, or from `build(input_shape)` when a model infers shapes.
"""

from __future__ import annotations

import functools
import inspect

import numpy as np

from volnet.ops.parallel import one_blas_thread

DEFAULT_DTYPE = np.dtype(np.float32)


class Parameter:
    """A learnable array (`data`) and the gradient of the loss with respect to it (`grad`)."""

    def __init__(self, data: np.ndarray, trainable: bool = True):
        self.data = data
        self.trainable = trainable
        self.grad = np.zeros_like(data) if trainable else None

    def __repr__(self):
        return f"Parameter(shape={self.data.shape}, dtype={self.data.dtype}{'' if self.trainable else ', trainable=False'})"


def format_shape(shape) -> str:
    """One example's shape the way the notes write it: W×H×D for a volume, D for a vector."""
    shape = tuple(shape)
    if len(shape) == 3:
        depth, height, width = shape
        return f"{width}×{height}×{depth}"
    return "×".join(str(s) for s in shape)


def _recording_output_shape(forward):
    """Wrap a layer's forward so that it remembers the shape of the batch it returns."""

    @functools.wraps(forward)
    def recorded(self, x, *args, **kwargs):
        with one_blas_thread:
            out = forward(self, x, *args, **kwargs)
        self.last_output_shape = out.shape
        if getattr(self, "recording", False):
            self.recorded_output = out
        return out

    return recorded


def _checking_dout(backward):
    """Wrap a layer's backward so that dout must have the shape of the last forward's output."""

    @functools.wraps(backward)
    def checked(self, dout, *args, **kwargs):
        if getattr(dout, "shape", None) != self.last_output_shape:
            self._reject_dout(dout)
        if getattr(self, "recording", False):
            self.recorded_gradient = dout
        with one_blas_thread:
            return backward(self, dout, *args, **kwargs)

    return checked


class Layer:
    """Base class: subclasses define output_shape, forward and backward, and may define
    _create_parameters (called once by build).

    Every subclass's forward and backward are wrapped once, when the class is defined:
    forward records the shape of the batch it returns (`last_output_shape`), and backward
    first checks that dout has exactly that shape — one tuple comparison per call — so a
    wrong dout gives an error naming the layer rather than a broadcasting traceback or, worse,
    a silently wrong gradient. Both run with NumPy's OpenBLAS held at one thread
    (volnet.ops.parallel.one_blas_thread): the ops spread their work over the cores themselves.
    """

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "forward" in vars(cls):
            cls.forward = _recording_output_shape(cls.forward)
        if "backward" in vars(cls):
            cls.backward = _checking_dout(cls.backward)

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
                if k not in ("in_depth", "in_features") and defaults.get(k, inspect.Parameter.empty) != v}

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
        """The output batch (N, ...) for an input batch x (N, ...); keeps what backward needs."""
        raise NotImplementedError

    def backward(self, dout: np.ndarray) -> np.ndarray:
        """dx (the input's shape) for dout, the gradient of the loss with respect to the last
        forward's output (its shape); adds the parameters' gradients onto their .grad."""
        raise NotImplementedError

    def backward_parameters(self, dout: np.ndarray):
        """Only the parameters' gradients for dout, no dx: for a net's first layer, whose dx
        (the gradient of the images) nobody uses. Layers that can skip computing dx override it."""
        self.backward(dout)

    def _reject_dout(self, dout):
        """Raise the error for a dout that backward cannot take (see the class docstring).

        Raises:
            RuntimeError: forward has not run yet, so there is no output to differentiate.
            TypeError: dout is not a NumPy array.
            ValueError: dout's shape differs from that of the last forward's output.
        """
        expected = self.last_output_shape
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

    def _walk(self, prefix=""):
        for name, value in vars(self).items():
            if isinstance(value, Parameter):
                yield prefix + name, value
        for name, child in self.children():
            yield from child._walk(prefix + name + ".")

    def parameters(self) -> dict[str, Parameter]:
        """The trainable Parameters of this layer and the layers inside it, by dotted name."""
        return {name: p for name, p in self._walk() if p.trainable}

    @property
    def params(self) -> dict[str, np.ndarray]:
        return {name: p.data for name, p in self.parameters().items()}

    @property
    def grads(self) -> dict[str, np.ndarray]:
        return {name: p.grad for name, p in self.parameters().items()}

    def state(self) -> dict[str, np.ndarray]:
        """Every array that defines the layer: parameters and running statistics."""
        return {name: p.data for name, p in self._walk()}

    def load_state(self, state: dict[str, np.ndarray]):
        """Copy arrays in by name; names and shapes must match exactly."""
        own = dict(self._walk())
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
        """Cast every parameter and running statistic (and later inputs) to dtype."""
        self.dtype = np.dtype(dtype)
        for _, child in self.children():
            child.to(dtype)
        for p in vars(self).values():
            if not isinstance(p, Parameter):
                continue
            p.data = p.data.astype(dtype)
            if p.trainable:
                p.grad = p.grad.astype(dtype)
        return self

    def train(self, mode: bool = True) -> "Layer":
        """Switch training (True) or inference (False) mode, here and in the layers inside."""
        self.training = mode
        for _, child in self.children():
            child.train(mode)
        return self

    def eval(self) -> "Layer":
        return self.train(False)

    def parameter_data(self, name):
        """The array of an optional Parameter (e.g. a bias), or None when it is switched off."""
        value = getattr(self, name)
        return value.data if isinstance(value, Parameter) else None

    def _accumulate(self, **grads):
        """Add freshly computed gradients onto the Parameters' .grad."""
        for name, value in grads.items():
            if value is not None:
                getattr(self, name).grad += value
