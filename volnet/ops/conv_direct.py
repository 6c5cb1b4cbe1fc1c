"""Direct convolution for shallow inputs: compiled loops over receptive fields, no matrix.

A first layer sees 1 to 3 input channels, so each receptive field holds few numbers
(T = D·FH·FW: 9 for a 1-deep 3×3 filter) while each position has K outputs. im2col then
multiplies a (positions × T) matrix by a (T × K) one — a multiply too thin for BLAS to run
well, after a copy of the rows — and its col2im adds each tap's D numbers back one strided
pass at a time. The loops here (direct_kernels.py, compiled by numba) read the padded
input where it lies:

    out[n, i, j, :] = b + Σ_t x_pad[n, i·S_h + a_t·d_h, j·S_w + c_t·d_w, d_t] · W[t, :]
    dw[t, :]        = Σ_{n,i,j} x_pad[n, i·S_h + a_t·d_h, j·S_w + c_t·d_w, d_t] · dout[n, i, j, :]
    db              = Σ_{n,i,j} dout[n, i, j, :]
    dx_pad[n, i·S_h + a_t·d_h, j·S_w + c_t·d_w, d_t] += dout[n, i, j, :] · W[t, :]
                       (the dot products by one BLAS multiply per chunk, dout @ Wᵀ;
                       the loop adds them where their taps read)

for the T taps t = (a_t, c_t, d_t) of a filter in (fh, fw, d) order, W = w as (T, K) (im2col's
filter matrix). Each sum runs innermost over the K filters, which lie next to each other in
channel-last memory, so the compiler vectorises it; each input number is read once per
tap, each output number written once (forward) — the loops stream the input and the output.
The batch is cut into chunks for volnet's workers (volnet.ops.parallel.map_batch); the
filter gradient sums one partial dw per chunk in the chunks' order, and the chunks depend on
the batch size only, so results are the same whatever the number of threads.

Every convolution with one group can be computed this way (any size, stride, padding,
dilation) in float32 or float64 where numba loads (`refusal` says why not otherwise); the
policy (volnet.ops.conv.choose_algorithm) gives it the shallow layers where it was
measured faster than im2col (docs/performance.md, issue 16). Without numba it refuses
every convolution and "auto" takes im2col.
"""

from __future__ import annotations


import numpy as np

from volnet.ops import compiled
from volnet.ops.geometry import conv_geometry, conv_gradient_geometry
from volnet.ops.layout import as_channel_last, pad_channel_last, unpad_channel_last
from volnet.ops.parallel import map_batch, one_blas_thread

# the loops take the taps of a field three at a time (direct_kernels.py)
TAPS_PER_PASS = 3


def refusal(w_shape, dtypes, stride, pad, dilation, groups, operation="forward") -> str | None:
    """Why the direct loops cannot compute this convolution, or None when they can: they need
    one group, both operands float32 or both float64, and numba installed and loading.

    Args:
        w_shape: (K, D/G, FH, FW). dtypes: the two operands' dtypes (x and w, dout and w, x and dout).
        stride, pad, dilation: (height, width) pairs. operation: "forward", "input_gradient"
            or "filter_gradient" (all three are computed alike).
    """
    if groups != 1:
        return f"it has groups={groups}, not 1"
    if reason := compiled.dtype_refusal(dtypes):
        return reason
    return compiled.loading_refusal(_kernels)


def _kernels():
    """The compiled loops (importing numba: only when a layer first needs them), or None
    (volnet.ops.compiled.load: numba missing, or, after a warning, unable to load)."""
    return compiled.load("volnet.ops.direct_kernels", "computes shallow convolutions with im2col instead")


def _refuse(w_shape, dtypes, stride, pad, dilation, groups, operation):
    reason = refusal(w_shape, dtypes, stride, pad, dilation, groups, operation)
    if reason is not None:
        raise ValueError(f"conv2d algorithm 'direct' cannot compute this convolution: {reason}; "
                         "use algorithm='im2col' (or 'auto')")


class Fields:
    """Where a convolution's receptive fields lie in its padded channel-last input (Hp, Wp, D):
    the taps' offsets from a field's first number, in (fh, fw, d) order and padded to a
    multiple of TAPS_PER_PASS with taps of offset 0 (their weights are 0), and the steps
    from one field to the next along a row and a column of the output."""

    def __init__(self, padded_shape, filter_hw, stride, dilation):
        _, width, depth = padded_shape
        (fh, fw), (dh, dw) = filter_hw, dilation
        offsets = [(a * dh * width + c * dw) * depth + d for a in range(fh) for c in range(fw) for d in range(depth)]
        self.count = len(offsets)  # T = FH·FW·D
        offsets += [0] * (-len(offsets) % TAPS_PER_PASS)
        self.taps = np.array(offsets, dtype=np.int64)
        self.row_step, self.column_step = stride[0] * width * depth, stride[1] * depth

    def weights(self, w):
        """w (K, D, FH, FW) as the taps' (T', K) matrix, rows in (fh, fw, d) order, zero rows last."""
        matrix = np.zeros((len(self.taps), w.shape[0]), w.dtype)
        matrix[:self.count] = w.transpose(2, 3, 1, 0).reshape(self.count, w.shape[0])
        return matrix

    def steps(self):
        return self.row_step, self.column_step, self.taps


def _pair_weights(width, dtype):
    """(OW,): the weight of the second position of the pair of columns that starts at j: 1,
    and 0 on the last column of an odd-width row (direct_kernels.py)."""
    return (np.arange(width) + 1 < width).astype(dtype)


def _direct_forward(x, w, b, stride, pad, dilation, out_hw):
    """out (N, K, OH, OW), a view of channel-last memory, and x_pad (N, Hp, Wp, D), the padded
    channel-last input that the filter gradient reads."""
    x_pad = pad_channel_last(x, pad)
    fields = Fields(x_pad.shape[1:], w.shape[2:], stride, dilation)
    weights = fields.weights(w)
    bias = np.zeros(w.shape[0], weights.dtype) if b is None else b.astype(weights.dtype)
    out = np.empty((len(x), *out_hw, w.shape[0]), weights.dtype)
    x_flat, pair_weights = x_pad.reshape(len(x), -1), _pair_weights(out_hw[1], weights.dtype)

    def forward_chunk(examples):
        _kernels().forward_fields(x_flat[examples], weights, bias, out[examples], *fields.steps(), pair_weights)

    map_batch(forward_chunk, len(x), max(x_flat.shape[1], out[0].size))
    return out.transpose(0, 3, 1, 2), x_pad


def _direct_filter_gradient(x_pad, dout_nhwc, filter_hw, stride, dilation):
    """dw (K, D, FH, FW) and db (K,) from the padded channel-last input and dout (N, OH, OW, K)."""
    n_examples, _, ow, filters = dout_nhwc.shape
    fields = Fields(x_pad.shape[1:], filter_hw, stride, dilation)
    x_flat, pair_weights = x_pad.reshape(n_examples, -1), _pair_weights(ow, x_pad.dtype)

    def filter_gradient_chunk(examples):
        dw_part, db_part = np.zeros((len(fields.taps), filters), x_pad.dtype), np.zeros(filters, x_pad.dtype)
        _kernels().filter_gradient_fields(x_flat[examples], dout_nhwc[examples], dw_part, db_part, *fields.steps(),
                                          pair_weights)
        return dw_part, db_part

    parts = map_batch(filter_gradient_chunk, n_examples, max(x_flat.shape[1], dout_nhwc[0].size))
    dw = sum(dw_part for dw_part, _ in parts)[:fields.count].reshape(*filter_hw, x_pad.shape[3], filters)
    return np.ascontiguousarray(dw.transpose(3, 2, 0, 1)), sum(db_part for _, db_part in parts)


def _direct_input_gradient(dout, w, input_hw, stride, pad, dilation):
    """dx (N, D, H, W), a view of channel-last memory, from dout (N, K, OH, OW) in any memory
    layout: each example's field gradients, its (OH·OW, K) dout rows @ Wᵀ (one BLAS multiply,
    T numbers per output position; BLAS reads (N, K, OH, OW) memory as the rows' transpose,
    so dout is never copied), added where their taps read; rows and columns that no window
    reads get 0."""
    n_examples, filters, oh, ow = dout.shape
    depth = w.shape[1]
    dx_pad = np.zeros((n_examples, input_hw[0] + 2 * pad[0], input_hw[1] + 2 * pad[1], depth), dout.dtype)
    fields = Fields(dx_pad.shape[1:], w.shape[2:], stride, dilation)
    weights_transposed, dx_flat = fields.weights(w).T.astype(dx_pad.dtype, copy=False), dx_pad.reshape(n_examples, -1)

    def input_gradient_chunk(examples):
        dout_rows = dout[examples].reshape(-1, filters, oh * ow).transpose(0, 2, 1)
        field_gradients = np.matmul(dout_rows, weights_transposed).reshape(-1, oh, ow, len(fields.taps))
        _kernels().add_field_gradients(field_gradients, dx_flat[examples], *fields.steps())

    # chunks sized by the largest of the input's gradient, dout and the field gradients
    map_batch(input_gradient_chunk, n_examples, max(dx_flat.shape[1], oh * ow * max(filters, len(fields.taps))),
              "matrix")
    return unpad_channel_last(dx_pad, pad, input_hw)


@one_blas_thread
def conv2d_forward_direct(x, w, b=None, stride=1, pad=0, dilation=1, groups=1):
    """The direct loops' forward pass (module doc); same arguments and result as
    conv2d_forward_reference, the output a (N, K, OH, OW) view of channel-last memory.

    Raises:
        ValueError: shapes that do not fit, or a convolution the loops cannot compute (refusal).
    """
    out_hw, stride, pad, dilation = conv_geometry(x.shape, w.shape, stride, pad, dilation, groups)
    _refuse(w.shape, (x.dtype, w.dtype), stride, pad, dilation, groups, "forward")
    out, x_pad = _direct_forward(x, w, b, stride, pad, dilation, out_hw)
    return out, (x.shape, x_pad, w, b is not None, stride, pad, dilation)


@one_blas_thread
def conv2d_backward_direct(dout, cache, input_gradient=True):
    """Backward of conv2d_forward_direct: dx (None when input_gradient is False), dw, db (or None)."""
    input_shape, x_pad, w, has_bias, stride, pad, dilation = cache
    dout_nhwc = as_channel_last(dout)
    dw, db = _direct_filter_gradient(x_pad, dout_nhwc, w.shape[2:], stride, dilation)
    dx = (_direct_input_gradient(dout_nhwc.transpose(0, 3, 1, 2), w, input_shape[2:], stride, pad, dilation)
          if input_gradient else None)
    return dx, dw.astype(w.dtype, copy=False), db.astype(w.dtype, copy=False) if has_bias else None


@one_blas_thread
def conv2d_input_gradient_direct(dout, w, input_hw, stride=1, pad=0, dilation=1, groups=1):
    """dx (N, D, H, W) of a convolution with filters w, from dout (N, K, OH, OW) alone: each
    output's dout dotted with each tap's filter weights (dout @ Wᵀ), added where the tap read."""
    stride, pad, dilation = conv_gradient_geometry("conv2d_input_gradient", input_hw, w.shape[2:], dout.shape[2:],
                                                   stride, pad, dilation)
    _refuse(w.shape, (dout.dtype, w.dtype), stride, pad, dilation, groups, "input_gradient")
    return _direct_input_gradient(dout, w, tuple(input_hw), stride, pad, dilation)


@one_blas_thread
def conv2d_filter_gradient_direct(x, dout, filter_hw, stride=1, pad=0, dilation=1, groups=1):
    """dw (K, D, FH, FW) of a convolution of x (N, D, H, W) that gave dout (N, K, OH, OW)."""
    stride, pad, dilation = conv_gradient_geometry("conv2d_filter_gradient", x.shape[2:], filter_hw, dout.shape[2:],
                                                   stride, pad, dilation)
    w_shape = (dout.shape[1], x.shape[1] // groups, *filter_hw)
    _refuse(w_shape, (x.dtype, dout.dtype), stride, pad, dilation, groups, "filter_gradient")
    return _direct_filter_gradient(pad_channel_last(x, pad), as_channel_last(dout), tuple(filter_hw), stride,
                                   dilation)[0]
