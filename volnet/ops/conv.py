"""Convolution, forward and backward, by a named algorithm: "reference", "im2col" or "winograd".

Shapes (the same letters in every op):
    x    (N, D, H, W)      N volumes of depth D, height H, width W
    w    (K, D/G, FH, FW)  K filters, each FH×FW and as deep as its group of the input (G groups)
    b    (K,) or None
    out  (N, K, OH, OW)    OH = (H − FH_eff + 2P_h)/S_h + 1, likewise OW

Forward (the notes: "slide each filter over width and height; dot product of the filter
with the local region, plus bias"):

    out[n, k, i, j] = Σ_{d,a,c} x_pad[n, d, i·S + a·dil, j·S + c·dil] · w[k, d, a, c] + b[k]

Backward, given dout = ∂L/∂out (derived in docs/backprop.md):
    db[k]          = Σ_{n,i,j} dout[n, k, i, j]                  a sum per filter
    dw[k, d, a, c] = Σ_{n,i,j} dout[n, k, i, j] · x_pad[n, d, i·S + a, j·S + c]
                                                                 input correlated with dout
                                                                 (conv2d_filter_gradient)
    dx_pad[n, d, y, z] = Σ_{k,i,j: y = i·S + a, z = j·S + c} dout[n, k, i, j] · w[k, d, a, c]
                                                                 a "full" convolution of dout
                                                                 with the flipped filters
                                                                 (conv2d_input_gradient)

The algorithms, each in a module of its own with the same four functions:
    "reference"  conv_reference.py  the loops above, one output number at a time
    "im2col"     conv_im2col.py     receptive fields as rows of a matrix, one matrix multiply
                                    per chunk of the batch (docs/backprop.md's im2col/col2im)
    "winograd"   conv_winograd.py   F(2×2, 3×3) for 3×3 stride-1 layers, tile transforms by numba
    "direct"     conv_direct.py     loops over each receptive field's taps, compiled by numba,
                                    for shallow first layers (1–3 input channels)

`algorithm="auto"` (the default) takes the process's choice if one is set (use_algorithm,
set_default_algorithm) and the algorithm can compute the convolution, else the policy,
choose_algorithm. Every forward's cache names the algorithm that ran (`cache.algorithm`;
a Conv2D layer shows it as `last_algorithm`), and conv2d_backward runs that algorithm's
backward — for dx, under "auto", the policy's input-gradient choice where that is another
algorithm (`cache.input_gradient_algorithm`: a shallow 5×5 layer's dx by "direct"). A new
algorithm is a module with the four functions, registered with register_algorithm
(docs/contributing.md).
"""

from __future__ import annotations

import contextlib
import contextvars
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

from volnet.ops import conv_direct, conv_im2col, conv_reference, conv_winograd
from volnet.ops.conv_reference import conv2d_backward_reference, conv2d_forward_reference
from volnet.ops.geometry import pair
from volnet.ops.parallel import one_blas_thread

AUTO = "auto"
# From this input depth on, both Winograd's forward pass and its forward + backward beat
# im2col on every layer measured; thinner layers are mixed (docs/performance.md, item 15).
WINOGRAD_MIN_DEPTH = 16
# Up to this input depth and this filter size (FH and FW), the direct loops beat im2col in
# forward+backward and in forward + dw (a first layer's training), at stride 1 and 2, though a
# 3→64 forward alone was slower (17.9 against 14.5 ms); a
# 1-deep 5×5 filter (25 taps) and a 3-deep 5×5 (75) are better served by im2col's matrix
# multiply in the forward pass and forward + dw (docs/performance.md, issue 16). Their dx is
# direct's at any filter size: one multiply and a compiled scatter against col2im's pass per
# tap (3→32 5×5: half the forward+backward; docs/performance.md, issue 16, second round).
DIRECT_MAX_DEPTH = 3
DIRECT_MAX_SIZE = 3


@dataclass(frozen=True)
class ConvAlgorithm:
    """One way to compute a convolution: four functions with the signatures of the reference's.

    forward(x, w, b=None, stride=1, pad=0, dilation=1, groups=1) -> (out, cache)
    backward(dout, cache, input_gradient=True) -> (dx or None, dw, db or None)
    input_gradient(dout, w, input_hw, stride=1, pad=0, dilation=1, groups=1) -> dx
    filter_gradient(x, dout, filter_hw, stride=1, pad=0, dilation=1, groups=1) -> dw
    refusal(w_shape, dtypes, stride, pad, dilation, groups, operation) -> why it cannot
        compute this convolution (a phrase), or None when it can.
    """

    name: str
    forward: Callable
    backward: Callable
    input_gradient: Callable
    filter_gradient: Callable
    refusal: Callable = lambda w_shape, dtypes, stride, pad, dilation, groups, operation: None


ALGORITHMS: dict[str, ConvAlgorithm] = {}


def register_algorithm(algorithm: ConvAlgorithm) -> ConvAlgorithm:
    """Make an algorithm available by its name (to conv2d_forward(..., algorithm=name), the
    switches and the tests that sweep ALGORITHMS)."""
    if algorithm.name == AUTO:
        raise ValueError(f"a conv algorithm cannot be named {AUTO!r}: that name asks the policy to choose")
    if ALGORITHMS.get(algorithm.name, algorithm) is not algorithm:
        raise ValueError(f"a conv algorithm named {algorithm.name!r} is registered already; choose another name "
                         f"(or del volnet.ops.conv.ALGORITHMS[{algorithm.name!r}] first to replace it)")
    ALGORITHMS[algorithm.name] = algorithm
    return algorithm


register_algorithm(ConvAlgorithm(
    "reference", conv2d_forward_reference, conv2d_backward_reference,
    conv_reference.conv2d_input_gradient_reference, conv_reference.conv2d_filter_gradient_reference))
register_algorithm(ConvAlgorithm(
    "im2col", conv_im2col.conv2d_forward_im2col, conv_im2col.conv2d_backward_im2col,
    conv_im2col.conv2d_input_gradient_im2col, conv_im2col.conv2d_filter_gradient_im2col))
register_algorithm(ConvAlgorithm(
    "winograd", conv_winograd.conv2d_forward_winograd, conv_winograd.conv2d_backward_winograd,
    conv_winograd.conv2d_input_gradient_winograd, conv_winograd.conv2d_filter_gradient_winograd,
    conv_winograd.refusal))
register_algorithm(ConvAlgorithm(
    "direct", conv_direct.conv2d_forward_direct, conv_direct.conv2d_backward_direct,
    conv_direct.conv2d_input_gradient_direct, conv_direct.conv2d_filter_gradient_direct, conv_direct.refusal))


def winograd_allowed() -> bool:
    """Whether the policy may pick Winograd at all: the environment variable VOLNET_WINOGRAD
    is not "0" (read at each call, so a process can change it)."""
    return os.environ.get("VOLNET_WINOGRAD") != "0"


def winograd_in_use() -> bool:
    """Whether the policy gives Winograd the layers it suits here: allowed (winograd_allowed)
    and numba installed and loading."""
    return winograd_allowed() and ALGORITHMS["winograd"].refusal((1, 1, 3, 3), ("f4", "f4"), (1, 1), (1, 1),
                                                                 (1, 1), 1, "forward") is None


def choose_algorithm(w_shape, dtypes, stride=1, pad=0, dilation=1, groups=1, operation="forward") -> str:
    """The policy: which algorithm "auto" runs for a convolution with filters of w_shape.

    "winograd" for 3×3 filters at stride 1, no dilation, one group, inputs at least
    WINOGRAD_MIN_DEPTH deep, both operands float32 or both float64, where numba loads and
    VOLNET_WINOGRAD is not 0 (conv_winograd.refusal has the exact rule); "direct" for
    shallow layers — inputs at most DIRECT_MAX_DEPTH deep, filters at most DIRECT_MAX_SIZE
    (3×3) along each side (for the input gradient, filters of any size), no dilation, one
    group, both operands float32 or both float64, where numba loads (conv_direct.refusal);
    "im2col" for every other convolution. (Inside im2col, dx at stride 1 is a convolution of
    dout or col2im: that choice is the im2col algorithm's own.)

    Args:
        w_shape: (K, D/G, FH, FW). dtypes: the two operands' dtypes (x and w for the forward).
        operation: "forward", "input_gradient" or "filter_gradient". conv2d_backward computes
            dx by the policy's "input_gradient" choice where that differs from the forward's
            algorithm (a shallow 5×5 layer: im2col's forward and dw, direct's dx).
    """
    return _choose(w_shape, dtypes, pair(stride, "stride"), pair(pad, "pad"), pair(dilation, "dilation"), groups,
                   operation)


def _choose(w_shape, dtypes, stride, pad, dilation, groups, operation):
    """choose_algorithm, given stride, pad and dilation as pairs."""
    if (len(w_shape) == 4 and w_shape[1] >= WINOGRAD_MIN_DEPTH and winograd_allowed()
            and ALGORITHMS["winograd"].refusal(w_shape, dtypes, stride, pad, dilation, groups, operation) is None):
        return "winograd"
    if (len(w_shape) == 4 and w_shape[1] <= DIRECT_MAX_DEPTH
            and (max(w_shape[2:]) <= DIRECT_MAX_SIZE or operation == "input_gradient") and dilation == (1, 1)
            and ALGORITHMS["direct"].refusal(w_shape, dtypes, stride, pad, dilation, groups, operation) is None):
        return "direct"
    return "im2col"


_process_default = AUTO  # set_default_algorithm's choice, for every thread
_CHOSEN = contextvars.ContextVar("volnet_conv_algorithm", default=None)  # use_algorithm's, in this context


def _known(name: str) -> str:
    if name != AUTO and name not in ALGORITHMS:
        raise ValueError(f"unknown conv algorithm {name!r}; known: {', '.join([AUTO, *ALGORITHMS])}")
    return name


def set_default_algorithm(name: str) -> None:
    """The algorithm that algorithm="auto" means from now on, in every thread ("auto": the policy)."""
    global _process_default
    _process_default = _known(name)


def default_algorithm() -> str:
    """What algorithm="auto" means here and now: use_algorithm's choice, else set_default_algorithm's."""
    chosen = _CHOSEN.get()
    return _process_default if chosen is None else chosen


@contextlib.contextmanager
def use_algorithm(name: str):
    """Inside the block, algorithm="auto" means `name` in this thread (and the code it calls)
    wherever that algorithm can compute the convolution; the policy decides elsewhere.

    Example:
        >>> with use_algorithm("im2col"):
        ...     out, cache = conv2d_forward(x, w)          # doctest: +SKIP
    """
    token = _CHOSEN.set(_known(name))
    try:
        yield
    finally:
        _CHOSEN.reset(token)


def resolve_algorithm(algorithm, w_shape, dtypes, stride, pad, dilation, groups, operation="forward") -> str:
    """The name of the algorithm that runs: an explicit name (after checking that it can
    compute this convolution), or for "auto" the switch's choice where it can, else the policy.

    Raises:
        ValueError: an unknown name, or an explicit algorithm that cannot compute this convolution.
    """
    stride, pad, dilation = pair(stride, "stride"), pair(pad, "pad"), pair(dilation, "dilation")
    if _known(algorithm) != AUTO:
        reason = ALGORITHMS[algorithm].refusal(w_shape, dtypes, stride, pad, dilation, groups, operation)
        if reason is not None:
            raise ValueError(f"conv2d algorithm {algorithm!r} cannot compute this convolution: {reason}; "
                             "use algorithm='im2col' (or 'auto')")
        return algorithm
    chosen = default_algorithm()
    if chosen != AUTO and ALGORITHMS[chosen].refusal(w_shape, dtypes, stride, pad, dilation, groups, operation) is None:
        return chosen
    return _choose(w_shape, dtypes, stride, pad, dilation, groups, operation)


class ConvCache(NamedTuple):
    """What conv2d_forward returns beside out: the name of the algorithm that ran, what its
    backward needs, and the algorithm of dx with the convolution it needs (w, (H, W), stride,
    pad, dilation, groups as pairs) when that is another one (the policy's "input_gradient"
    choice), else None."""

    algorithm: str
    saved: tuple
    input_gradient_algorithm: str | None = None
    convolution: tuple | None = None


@one_blas_thread
def conv2d_forward(x, w, b=None, stride=1, pad=0, dilation=1, groups=1, algorithm=AUTO):
    """out (N, K, OH, OW) and the cache for conv2d_backward, by the algorithm named (module doc).

    Args:
        x: (N, D, H, W). w: (K, D/G, FH, FW). b: (K,) or None. stride, pad, dilation: an int
            or a (height, width) pair. groups: G. algorithm: "auto" or a name in ALGORITHMS.
    Returns:
        out (N, K, OH, OW) — with im2col and winograd a view of channel-last memory, which the
        next layer reads in order; cache, a ConvCache whose .algorithm names what ran.
    Raises:
        ValueError: shapes that do not fit (the message has the formula with the numbers), an
            unknown algorithm, or one that cannot compute this convolution.
    """
    name = resolve_algorithm(algorithm, w.shape, (x.dtype, w.dtype), stride, pad, dilation, groups)
    out, saved = ALGORITHMS[name].forward(x, w, b, stride, pad, dilation, groups)
    # an algorithm named computes everything; "auto" asks the policy for dx too
    dx_name = name if algorithm != AUTO else resolve_algorithm(AUTO, w.shape, (x.dtype, w.dtype), stride, pad,
                                                               dilation, groups, "input_gradient")
    if dx_name == name:
        return out, ConvCache(name, saved)
    convolution = (w, x.shape[2:], pair(stride, "stride"), pair(pad, "pad"), pair(dilation, "dilation"), groups)
    return out, ConvCache(name, saved, dx_name, convolution)


@one_blas_thread
def conv2d_backward(dout, cache: ConvCache, input_gradient=True):
    """dx (N, D, H, W), dw (K, D/G, FH, FW), db (K,) by the algorithm that ran the forward, dx
    by cache.input_gradient_algorithm where the forward named one (and it takes dout's dtype).

    With input_gradient=False dx is None (a net's first layer: nothing uses the gradient of
    the images); db is None when the forward had no bias.
    """
    backward = ALGORITHMS[cache.algorithm].backward
    if input_gradient and cache.input_gradient_algorithm is not None:
        dx_algorithm = ALGORITHMS[cache.input_gradient_algorithm]
        w, input_hw, stride, pad, dilation, groups = cache.convolution
        if dx_algorithm.refusal(w.shape, (dout.dtype, w.dtype), stride, pad, dilation, groups,
                                "input_gradient") is None:
            _, dw, db = backward(dout, cache.saved, False)
            return dx_algorithm.input_gradient(dout, w, input_hw, stride, pad, dilation, groups), dw, db
    return backward(dout, cache.saved, input_gradient)


def _check_depths(operation, depth, filters, w_shape, groups):
    if groups < 1 or depth % groups or filters % groups or (w_shape is not None and
                                                             (w_shape[0] != filters or w_shape[1] * groups != depth)):
        raise ValueError(f"{operation}: input depth {depth}, {filters} filters and groups={groups} do not fit"
                         + ("" if w_shape is None else f" filters (K, D/G, FH, FW) = {tuple(w_shape)}")
                         + ": K and D must be divisible by G")


@one_blas_thread
def conv2d_input_gradient(dout, w, input_hw, stride=1, pad=0, dilation=1, groups=1, algorithm=AUTO):
    """dx (N, D, H, W): the gradient of a convolution's input from dout (N, K, OH, OW) and its
    filters w (K, D/G, FH, FW) alone — also the forward pass of a transposed convolution.

    input_hw (H, W) may exceed the smallest input that gives OH×OW by up to S − 1 rows and
    columns (a transposed convolution's output padding): dx is then the gradient of the
    convolution of an H×W input with its output size rounded down, as PyTorch's; rows and
    columns that no window reads get 0.

    Raises:
        ValueError: sizes or depths that do not fit, an unknown algorithm or one that cannot.
    """
    input_hw = pair(input_hw, "input_hw")
    _check_depths("conv2d_input_gradient", w.shape[1] * groups, dout.shape[1], w.shape, groups)
    name = resolve_algorithm(algorithm, w.shape, (dout.dtype, w.dtype), stride, pad, dilation, groups,
                             "input_gradient")
    return ALGORITHMS[name].input_gradient(dout, w, input_hw, stride, pad, dilation, groups)


@one_blas_thread
def conv2d_filter_gradient(x, dout, filter_hw, stride=1, pad=0, dilation=1, groups=1, algorithm=AUTO):
    """dw (K, D/G, FH, FW): the gradient of a convolution's filters from its input x (N, D, H, W)
    and dout (N, K, OH, OW). x may have up to S − 1 more rows and columns than the smallest
    input that gives OH×OW (see conv2d_input_gradient).

    Raises:
        ValueError: sizes or depths that do not fit, an unknown algorithm or one that cannot.
    """
    filter_hw = pair(filter_hw, "filter_hw")
    _check_depths("conv2d_filter_gradient", x.shape[1], dout.shape[1], None, groups)
    w_shape = (dout.shape[1], x.shape[1] // groups, *filter_hw)
    name = resolve_algorithm(algorithm, w_shape, (x.dtype, dout.dtype), stride, pad, dilation, groups,
                             "filter_gradient")
    return ALGORITHMS[name].filter_gradient(x, dout, filter_hw, stride, pad, dilation, groups)
