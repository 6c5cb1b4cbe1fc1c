"""How a sliding window fits a volume: the notes' output-size rule and its error messages.

A window of F×F (a conv filter or a pooling window), moved with stride S over an input of
width W padded with P zeros on each side, fits

    OW = (W − F + 2P)/S + 1

times along the width, and likewise along the height. With dilation d the window covers
F_eff = d·(F − 1) + 1 pixels. Padding may be asymmetric only through "same" padding, which is
resolved here to a whole number per side.
"""

from __future__ import annotations

import math
import operator
from dataclasses import dataclass
from fractions import Fraction
from typing import Iterable, NamedTuple


def pair(value, name: str = "value", minimum: int | None = None) -> tuple[int, int]:
    """Return `value` as (height, width): an int n becomes (n, n); a pair stays a pair.

    Raises:
        TypeError: not whole numbers. ValueError: not a pair, or below `minimum`.
    """
    if isinstance(value, (tuple, list)):
        if len(value) != 2:
            raise ValueError(f"{name} must be an integer or a (height, width) pair, got {value!r}")
        height, width = value
    else:
        height = width = value
    try:
        height, width = operator.index(height), operator.index(width)
    except TypeError:
        raise TypeError(f"{name} must be a whole number or a pair of them, got {value!r}") from None
    if minimum is not None and min(height, width) < minimum:
        raise ValueError(f"{name} must be at least {minimum}, got {value!r}")
    return height, width


def effective_size(filter_size: int, dilation: int = 1) -> int:
    """The span of a dilated window: d·(F − 1) + 1."""
    return dilation * (filter_size - 1) + 1


def tap_slice(start: int, step: int, count: int) -> slice:
    """Every step-th index from start, count of them: slice(start, start + step·(count − 1) + 1, step).

    Along one axis this is both halves of a sliding window: the receptive field of output i
    is tap_slice(i·S, d, F) (its F taps, d apart), and the inputs that tap a reads for all
    OW outputs are tap_slice(a·d, S, OW) (one per output, S apart).
    """
    return slice(start, start + step * (count - 1) + 1, step)


def window_offsets(window, out_hw, stride, dilation=(1, 1)):
    """For each tap (a, b) of a window, in row-major order: (a, b, rows, columns), the slices
    of a padded (…, Hp, Wp, …) axis pair that hold, for every output (i, j), the input
    at (i·S_h + a·d_h, j·S_w + b·d_w). One strided view per tap: how pooling and col2im
    visit all windows at once."""
    (fh, fw), (oh, ow), (sh, sw), (dh, dw) = window, out_hw, stride, dilation
    return [(a, b, tap_slice(a * dh, sh, oh), tap_slice(b * dw, sw, ow)) for a in range(fh) for b in range(fw)]


def conv_geometry(x_shape, w_shape, stride, pad, dilation, groups):
    """Check the shapes of a convolution; return (OH, OW) and stride, pad, dilation as pairs.

    Args:
        x_shape: (N, D, H, W). w_shape: (K, D/G, FH, FW). stride, pad, dilation: ints or pairs.

    Raises:
        ValueError: not 4-D, a depth that the groups do not divide, or a window that does
            not fit (output_size's message).
    """
    if len(x_shape) != 4 or len(w_shape) != 4:
        raise ValueError(f"conv2d wants x (N, D, H, W) and w (K, D, F, F), got x {tuple(x_shape)} and w {tuple(w_shape)}")
    stride, pad, dilation = pair(stride, "stride"), pair(pad, "pad"), pair(dilation, "dilation")
    _check_groups(x_shape[1], w_shape, groups)
    out_hw = tuple(output_size(x_shape[2 + a], w_shape[2 + a], stride[a], pad[a], dilation[a]) for a in (0, 1))
    return out_hw, stride, pad, dilation


def _check_groups(depth, w_shape, groups):
    filters = w_shape[0]
    if depth % groups or filters % groups or w_shape[1] * groups != depth:
        raise ValueError(
            f"conv2d: input depth {depth} with groups={groups} needs filters of depth {depth}/{groups}; "
            f"got filters (K, D, F, F) = {tuple(w_shape)}"
        )


def conv_gradient_geometry(operation, input_hw, filter_hw, out_hw, stride, pad, dilation):
    """Check that a convolution of an input_hw input with filter_hw filters has an out_hw output
    when its output size is rounded down: (OH − 1)·S + F_eff − 2P ≤ H ≤ that + S − 1. The up
    to S − 1 rows (columns) more than the smallest such input are where a transposed
    convolution's output padding goes; windows reach them only through the bottom (right)
    padding, and rows that no window reads get gradient 0. Returns stride, pad, dilation as pairs.

    Raises:
        ValueError: naming the operation, the sizes and the rule.
    """
    stride, pad, dilation = pair(stride, "stride"), pair(pad, "pad"), pair(dilation, "dilation")
    for a in (0, 1):
        span = effective_size(filter_hw[a], dilation[a])
        least = (out_hw[a] - 1) * stride[a] + span - 2 * pad[a]
        if not (out_hw[a] >= 1 and max(least, 1) <= input_hw[a] <= least + stride[a] - 1):
            raise ValueError(
                f"{operation}: an output {axis_name(a)} of {out_hw[a]} comes from an input {axis_name(a)} "
                f"(OH − 1)·S + F − 2P = ({out_hw[a]} − 1)·{stride[a]} + {span} − {2 * pad[a]} = {least} "
                f"to {least + stride[a] - 1} (at most S − 1 more), got {input_hw[a]}"
            )
    return stride, pad, dilation


def same_padding(filter_size: int, dilation: int = 1) -> int:
    """The padding that keeps W unchanged at stride 1: P = (F_eff − 1)/2 for odd F_eff.

    Raises:
        ValueError: an even effective filter size has no symmetric "same" padding.
    """
    span = effective_size(filter_size, dilation)
    if span % 2 == 0:
        raise ValueError(
            f'pad="same" needs an odd filter size so that P = (F − 1)/2 is whole; '
            f"F = {span} is even. Give pad as a number instead."
        )
    return (span - 1) // 2


def output_size(size: int, filter_size: int, stride: int = 1, pad: int = 0, dilation: int = 1) -> int:
    """The number of positions a window fits along one axis: (W − F + 2P)/S + 1.

    Args:
        size: W (or H), the input's extent along the axis.
        filter_size: F, the window's extent (before dilation).
        stride: S, how far the window jumps.
        pad: P, zeros added on each side.
        dilation: d, spacing between the window's taps (F_eff = d·(F − 1) + 1).

    Returns:
        The output extent, a whole number ≥ 1.

    Raises:
        ValueError: the window is larger than the padded input, or (W − F + 2P)/S is not a
            whole number. The message shows the formula with the numbers filled in.

    Example:
        >>> output_size(32, 5, stride=1, pad=2)
        32
    """
    if size < 1 or filter_size < 1 or stride < 1 or pad < 0 or dilation < 1:
        raise ValueError(
            f"sizes must be positive and padding non-negative: W={size}, F={filter_size}, "
            f"S={stride}, P={pad}, dilation={dilation}"
        )
    span = effective_size(filter_size, dilation)
    padded = size + 2 * pad
    if span > padded:
        raise ValueError(
            f"the filter ({span}) is larger than the padded input: W + 2P = {size} + 2·{pad} = {padded} < F = {span}"
        )
    numerator = size - span + 2 * pad
    if numerator % stride:
        raise ValueError(
            f"(W − F + 2P)/S + 1 = ({size} − {span} + {2 * pad})/{stride} + 1 = "
            f"{numerator / stride + 1:g} is not a whole number"
        )
    return numerator // stride + 1


def fitting_pads(size: int, filter_size: int, stride: int, pad: int, dilation: int = 1) -> list[int]:
    """Paddings near `pad` (up to F − 1 away) that make the output size whole, nearest first."""
    span = effective_size(filter_size, dilation)
    candidates = [p for p in range(0, max(span, pad + 1) + 1) if p != pad]
    fits = [p for p in candidates if size + 2 * p >= span and (size - span + 2 * p) % stride == 0]
    return sorted(fits, key=lambda p: (abs(p - pad), p))


def fitting_strides(size: int, filter_size: int, stride: int, pad: int, dilation: int = 1) -> list[int]:
    """Strides below and near `stride` that make the output size whole, nearest first."""
    span = effective_size(filter_size, dilation)
    numerator = size - span + 2 * pad
    if numerator < 0:
        return []
    fits = [s for s in range(1, max(stride, 2) + 2) if s != stride and numerator % s == 0]
    return sorted(fits, key=lambda s: (abs(s - stride), s))


def window_output_shape(
    layer: str,
    input_shape: Iterable[int],
    window: tuple[int, int],
    stride: tuple[int, int],
    pad: tuple[int, int],
    dilation: tuple[int, int] = (1, 1),
    out_depth: int | None = None,
) -> tuple[int, int, int]:
    """The output volume (D_out, OH, OW) of a sliding window over an input volume (D, H, W).

    Args:
        layer: how the layer is named in messages, e.g. "Conv2D #2 (filters=64, size=5, stride=2)".
        input_shape: (D, H, W) of one example.
        window, stride, pad, dilation: (height, width) pairs.
        out_depth: the output depth (number of filters); None keeps the input depth (pooling).

    Raises:
        ValueError: naming the layer, showing the formula with the numbers, and suggesting a
            padding that fits, or, when no padding can (an even stride and an odd W − F),
            a filter size or input size that keeps the stride, then another stride, and what
            PyTorch would do instead (round down), e.g.
            "Conv2D #2 (filters=64, size=5, stride=2) does not fit its 32×32×16 input (W×H×D) along the height:
             (W − F + 2P)/S + 1 = (32 − 5 + 0)/2 + 1 = 14.5 is not a whole number.
             No padding can make it whole at stride 2: W − F = 32 − 5 = 27 is odd and 2P is even, ...
             Keeping stride 2: size=4 (→ 15×15×64) or size=6 (→ 14×14×64) or an input height of 31 (→ 14×14×64).
             Or change the stride: stride=1 (→ 28×28×64).
             (PyTorch would round down instead: ⌊27/2⌋ + 1 = 14, and the last row of the padded input
             would never be seen.)"
    """
    depth, height, width = input_shape
    out_depth = depth if out_depth is None else out_depth
    sizes = []
    for axis, size in (("height", height), ("width", width)):
        a = 0 if axis == "height" else 1
        try:
            sizes.append(output_size(size, window[a], stride[a], pad[a], dilation[a]))
        except ValueError as error:
            hint = _suggestion(size, window[a], stride[a], pad[a], dilation[a], (height, width), a,
                               window, stride, pad, dilation, out_depth)
            raise ValueError(
                f"{layer} does not fit its {width}×{height}×{depth} input (W×H×D) along the {axis}:\n"
                f"{error}.\n{hint}"
            ) from None
    return out_depth, sizes[0], sizes[1]


def fitting_filter_sizes(size: int, filter_size: int, stride: int, pad: int, dilation: int = 1) -> list[int]:
    """Filter sizes near F (up to S away) that make the output whole at this stride and padding, nearest first."""
    fits = [f for f in range(max(1, filter_size - stride), filter_size + stride + 1)
            if f != filter_size and effective_size(f, dilation) <= size + 2 * pad
            and (size - effective_size(f, dilation) + 2 * pad) % stride == 0]
    return sorted(fits, key=lambda f: (abs(f - filter_size), f))


def fitting_input_sizes(size: int, filter_size: int, stride: int, pad: int, dilation: int = 1) -> list[int]:
    """Input sizes W near W (up to S away) that make the output whole at this filter, stride and padding."""
    span = effective_size(filter_size, dilation)
    fits = [w for w in range(max(1, size - stride), size + stride + 1)
            if w != size and w + 2 * pad >= span and (w - span + 2 * pad) % stride == 0]
    return sorted(fits, key=lambda w: (abs(w - size), w))


def _suggestion(size, filter_size, stride, pad, dilation, hw, axis, window, strides, pads, dilations, out_depth):
    """The fixes that keep the stride (padding, filter size, input size), a stride that fits,
    the output volume each would give, and what PyTorch would do instead."""

    def volume(**changes):
        # the changed hyperparameter applies to the axis that does not fit, and to both when they were equal
        dims = []
        for a in (0, 1):
            settings = {"size": hw[a], "filter_size": window[a], "stride": strides[a], "pad": pads[a],
                        "dilation": dilations[a]}
            shared = {"size": hw, "filter_size": window, "stride": strides, "pad": pads}
            for name, value in changes.items():
                if a == axis or shared[name][0] == shared[name][1]:
                    settings[name] = value
            try:
                dims.append(output_size(**settings))
            except ValueError:
                return None
        return f"{dims[1]}×{dims[0]}×{out_depth}"

    def options(name, values, flag, limit):
        found = [(value, volume(**{name: value})) for value in values]
        return [f"{flag}{value} (→ {shape})" for value, shape in found if shape][:limit]

    span = effective_size(filter_size, dilation)
    pads_that_fit = options("pad", fitting_pads(size, filter_size, stride, pad, dilation), "pad=", 2)
    lines = []
    if pads_that_fit:
        strides_that_fit = options("stride", fitting_strides(size, filter_size, stride, pad, dilation), "stride=", 1)
        lines.append("Try " + " or ".join(pads_that_fit + strides_that_fit) + ".")
    elif span <= size + 2 * pad:
        lines.append(f"No padding can make it whole at stride {stride}: W − F = {size} − {span} = {size - span} is "
                     f"odd and 2P is even, so W − F + 2P is never a multiple of {stride}.")
    keeping = (options("filter_size", fitting_filter_sizes(size, filter_size, stride, pad, dilation), "size=", 2)
               + options("size", fitting_input_sizes(size, filter_size, stride, pad, dilation), f"an input {axis_name(axis)} of ", 1))
    if keeping:
        lines.append(f"Keeping stride {stride}: " + " or ".join(keeping) + ".")
    if not pads_that_fit:
        strides_that_fit = options("stride", fitting_strides(size, filter_size, stride, pad, dilation), "stride=", 1)
        if strides_that_fit:
            lines.append("Or change the stride: " + strides_that_fit[0] + ".")
    if not lines:
        return "Use a smaller filter or a larger input."
    numerator = size - span + 2 * pad
    if numerator >= 0:
        left_over, line = numerator % stride, "row" if axis == 0 else "column"
        unseen = f"last {line}" if left_over == 1 else f"last {left_over} {line}s"
        lines.append(f"(PyTorch would round down instead: ⌊{numerator}/{stride}⌋ + 1 = {numerator // stride + 1}, "
                     f"and the {unseen} of the padded input would never be seen.)")
    return "\n".join(lines)


def axis_name(axis: int) -> str:
    """0 → "height", 1 → "width"."""
    return "height" if axis == 0 else "width"


@dataclass(frozen=True)
class ReceptiveField:
    """What one neuron of a layer sees of the network's input, along one axis.

    The neuron at position i of the layer's output looks at input positions
    start + i·jump … start + i·jump + size − 1 (some may lie in the padding, outside
    0 … W − 1). Through a window of F (dilation d: F_eff = d·(F − 1) + 1), stride S, pad P:

        size  ← size + (F_eff − 1)·jump        start ← start − P·jump        jump ← jump·S

    starting from the input itself (size 1, jump 1, start 0). A layer that looks at everything
    (a fully-connected layer, global pooling) makes the field the whole input: `whole` is True.

    A transposed convolution (through_transposed) moves its output neurons 1/S of an input
    position apart, so after one with S > 1 neighbouring neurons see different counts of input
    positions (`varies`), jump and start may be fractions (fractions.Fraction), and the neuron
    at i sees the whole positions between start + i·jump and start + i·jump + reach − 1 (a
    bound that contains every position it sees); `size` is then the most any neuron sees.

    Attributes:
        size: r, how many input positions the field spans (the widest, where they vary). jump:
            j, how far apart in the input two neighbouring neurons' fields start. start: where
            neuron 0's field starts. whole: every neuron sees the whole input. reach: the
            span's length where it differs from size (after a transposed convolution). varies:
            neurons see different counts of positions.
    """

    size: int = 1
    jump: int | Fraction = 1
    start: int | Fraction = 0
    whole: bool = False
    reach: int | Fraction | None = None
    varies: bool = False

    @property
    def extent(self) -> int | Fraction:
        """The length of the stretch start + i·jump … that span() reads (reach, else size)."""
        return self.size if self.reach is None else self.reach

    def through(self, filter_size: int, stride: int = 1, pad: int = 0, dilation: int = 1) -> "ReceptiveField":
        """The field one sliding-window layer further on."""
        if self.whole:
            return self
        grow = (effective_size(filter_size, dilation) - 1) * self.jump
        if self.reach is None:
            return ReceptiveField(self.size + grow, self.jump * stride, self.start - pad * self.jump)
        return ReceptiveField(min(self.size + math.ceil(grow), math.floor(self.reach + grow)), _plain(self.jump * stride),
                              _plain(self.start - pad * self.jump), reach=_plain(self.reach + grow),
                              varies=self.varies)

    def through_transposed(self, filter_size: int, stride: int = 1, pad: int = 0,
                           dilation: int = 1) -> "ReceptiveField":
        """The field one transposed-convolution layer further on. Its output q is reached by the
        inputs i with i·S − P + a·dil = q for a filter tap a: the whole i between
        (q + P − F_eff + 1)/S and (q + P)/S, at most ⌈F_eff/S⌉ of them. So

            jump ← jump/S    start ← start + (P − F_eff + 1)·jump/S    reach ← reach + (F_eff − 1)·jump/S
            size ← size + (⌈F_eff/S⌉ − 1)·jump   (the widest, exact when the field before is)
        """
        if self.whole:
            return self
        step = Fraction(self.jump) / stride
        span = effective_size(filter_size, dilation)
        reach = self.extent + (span - 1) * step
        size = min(self.size + (-(-span // stride) - 1) * math.ceil(self.jump), math.floor(reach))
        return ReceptiveField(size, _plain(step), _plain(self.start + (pad - span + 1) * step), reach=_plain(reach),
                              varies=self.varies or stride > 1)

    def union(self, other: "ReceptiveField") -> "ReceptiveField":
        """The field of a neuron that adds two paths (a residual block's body and shortcut)."""
        if self.whole or other.whole:
            return ReceptiveField(max(self.size, other.size), 1, 0, whole=True)
        start = min(self.start, other.start)
        end = max(self.start + self.extent, other.start + other.extent)
        if self.reach is None and other.reach is None:
            return ReceptiveField(end - start, self.jump, start)
        return ReceptiveField(math.floor(end - start), self.jump, _plain(start), reach=_plain(end - start),
                              varies=self.varies or other.varies)

    def span(self, position: int, extent: int) -> tuple[int, int]:
        """The input positions (first, last) that neuron `position` sees, clipped to an input of
        `extent` positions (what lies beyond is padding)."""
        if self.whole:
            return 0, extent - 1
        first = self.start + position * self.jump
        return max(math.ceil(first), 0), min(math.floor(first + self.extent - 1), extent - 1)


def _plain(value):
    """A Fraction that is a whole number as an int, so that fields without fractions stay ints."""
    return int(value) if value.denominator == 1 else value


class ReceptiveField2D(NamedTuple):
    """What one neuron of a layer sees of the network's input, along the height and the width
    (each a ReceptiveField, which the rule of that class moves on axis by axis).

    Layers carry their own part of it (Layer.field_through: a sliding window moves it by its
    F, S, P and dilation, a fully-connected layer or global pooling makes it the whole input,
    elementwise layers keep it); volnet.models.receptive_field composes them along a model.
    """

    height: ReceptiveField = ReceptiveField()
    width: ReceptiveField = ReceptiveField()

    @property
    def size(self) -> tuple[int, int]:
        """(r along the height, r along the width)."""
        return self.height.size, self.width.size

    @property
    def jump(self) -> tuple[int, int]:
        return self.height.jump, self.width.jump

    @property
    def start(self) -> tuple[int, int]:
        return self.height.start, self.width.start

    @property
    def whole(self) -> bool:
        return self.height.whole or self.width.whole

    def through(self, window, strides, pads, dilations=(1, 1)) -> "ReceptiveField2D":
        """The field one sliding-window layer further on; each argument a (height, width) pair."""
        return ReceptiveField2D(*(field.through(window[a], strides[a], pads[a], dilations[a])
                                  for a, field in enumerate(self)))

    def size_text(self) -> str:
        """"W×H" as the summary writes it; "≤W×H" where neurons see different counts (after a
        transposed convolution: ReceptiveField.varies)."""
        height, width = self
        return f"{'≤' if height.varies or width.varies else ''}{width.size}×{height.size}"

    def through_transposed(self, window, strides, pads, dilations=(1, 1)) -> "ReceptiveField2D":
        """The field one transposed-convolution layer further on; each argument a (height, width) pair."""
        return ReceptiveField2D(*(field.through_transposed(window[a], strides[a], pads[a], dilations[a])
                                  for a, field in enumerate(self)))

    def everything(self) -> "ReceptiveField2D":
        """The field after a layer that looks at its whole input (fully connected, global pooling)."""
        return ReceptiveField2D(*(ReceptiveField(field.size, 1, 0, whole=True) for field in self))

    def union(self, other: "ReceptiveField2D") -> "ReceptiveField2D":
        """The field of a neuron that adds two paths (a residual block's body and shortcut)."""
        return ReceptiveField2D(*(mine.union(theirs) for mine, theirs in zip(self, other)))

    def box(self, row: int, column: int, height: int, width: int) -> tuple[int, int, int, int]:
        """(top, left, bottom, right), bottom and right exclusive, of the field of output (row, column),
        cut to an input of height × width."""
        (top, bottom), (left, right) = self.height.span(row, height), self.width.span(column, width)
        return top, left, bottom + 1, right + 1
