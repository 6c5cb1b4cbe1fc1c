# The one table of convolution cases that every conv test sweeps (tests/ops/test_conv*.py):
# (N, D, H, W, K, FH, FW, stride, pad, dilation, groups). Strides > 1, padding, rectangular
# filters and strides, filters as large as the padded input, N = 1, D = 1, K = 1, odd sizes,
# dilation, grouped and depthwise convolution, both of im2col's ways to dx, and the 3×3
# stride-1 layers that Winograd computes (deep enough for the policy, odd output sizes), and
# shallow first layers as the direct loops take them (D = 1–3, F = 1–7, strides 1 and 2,
# pads 0–3, odd widths, whose last column ends a pair of positions alone, K not a multiple of 8),
# and one with at least 256 output positions per example (im2col's dw then reads an
# (N, K, OH, OW) dout where it lies, conv_im2col.IN_PLACE_MIN_POSITIONS).
import numpy as np

CASES = [
    (2, 3, 7, 7, 4, 3, 3, 1, 1, 1, 1),
    (2, 3, 9, 9, 4, 3, 3, 2, 1, 1, 1),
    (1, 1, 5, 5, 1, 3, 3, 2, 1, 1, 1),
    (3, 2, 9, 7, 5, 3, 2, (2, 1), (1, 0), 1, 1),
    (2, 3, 5, 5, 2, 7, 7, 1, 1, 1, 1),      # F = H + 2P: one output position
    (1, 4, 6, 6, 3, 6, 6, 1, 0, 1, 1),      # F = H, no padding
    (2, 1, 10, 13, 2, 5, 5, 3, 2, 1, 1),
    (2, 3, 9, 9, 2, 3, 3, 1, 2, 2, 1),      # dilation 2
    (2, 4, 6, 6, 6, 3, 3, 1, 1, 1, 2),      # two groups
    (2, 4, 6, 6, 4, 3, 3, 1, 1, 1, 4),      # depthwise
    (1, 2, 4, 4, 3, 1, 1, 1, 0, 1, 1),      # 1×1 filters
    (5, 3, 8, 8, 4, 3, 3, 1, 1, 1, 1),      # stride 1, D < 16: im2col's dx by col2im
    (5, 16, 6, 7, 8, 3, 3, 1, 1, 1, 1),     # stride 1, D ≥ 16: dx by the transposed convolution; Winograd
    (4, 16, 7, 7, 8, 3, 3, 2, 1, 1, 1),     # stride 2: col2im
    (3, 16, 9, 9, 6, 3, 3, 1, 2, 2, 1),     # dilation, deep
    (3, 32, 6, 6, 8, 3, 3, 1, 1, 1, 2),     # groups of 16: transposed, per group
    (3, 16, 5, 5, 4, 3, 3, 1, 3, 1, 1),     # pad > F − 1: the full padding would be negative, col2im
    (2, 3, 5, 6, 4, 3, 3, 1, 0, 1, 1),      # odd output height (Winograd's last tile row is cut)
    (4, 16, 5, 5, 4, 1, 1, 1, 0, 1, 1),     # 1×1 filters, deep
    (1, 1, 9, 11, 3, 3, 3, 1, 1, 1, 1),     # shallow: batch 1, odd sizes
    (2, 2, 8, 7, 5, 5, 5, 1, 2, 1, 1),      # shallow: D = 2, F = 5, odd width
    (3, 3, 11, 9, 4, 3, 3, 2, 0, 1, 1),     # shallow: D = 3, stride 2, no padding
    (1, 1, 7, 7, 8, 7, 7, 1, 3, 1, 1),      # shallow: F = 7, pad 3
    (2, 3, 7, 5, 7, 1, 1, 2, 0, 1, 1),      # shallow: 1×1 filters at stride 2
    (2, 2, 9, 9, 3, 3, 3, 2, 3, 1, 1),      # shallow: pad 3 > F − 1 at stride 2
    (2, 1, 6, 6, 40, 3, 3, 1, 1, 1, 1),     # shallow: K = 40 filters, not a multiple of 8
    (1, 3, 17, 16, 4, 5, 5, 1, 2, 1, 1),    # shallow 5×5, 272 outputs: dw reads dout in place, dx by direct
    (2, 4, 16, 17, 6, 3, 3, 1, 1, 1, 2),    # two groups, 272 outputs: dw in place per group, dx by col2im
]


def case_id(case):
    n, d, h, w, k, fh, fw, stride, pad, dilation, groups = case
    return f"{n}x{d}x{h}x{w}-K{k}-F{fh}x{fw}-S{stride}-P{pad}-d{dilation}-G{groups}".replace(" ", "")


def random_case(case, seed=0, dtype=np.float64):
    """x, w, b and the hyperparameters of a case, standard normal in dtype."""
    n, d, h, w_, k, fh, fw, stride, pad, dilation, groups = case
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, d, h, w_)).astype(dtype)
    w = rng.standard_normal((k, d // groups, fh, fw)).astype(dtype)
    b = rng.standard_normal(k).astype(dtype)
    return x, w, b, dict(stride=stride, pad=pad, dilation=dilation, groups=groups)
