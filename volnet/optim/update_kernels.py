"""Adam's update as one compiled pass over each parameter, for volnet.optim.optimizers.Adam.

NumPy does Adam's update as about a dozen ufunc passes over each parameter (m·β₁, (1 − β₁)·g,
the sum, the same for s, √s, the division, ...), each writing an intermediate array. The loop
here reads w, g, m and s once and writes w, m and s once. It is compiled by numba (optional,
loaded by volnet.ops.compiled.load like the ops' loops) *without* fastmath, with the scalars in
the arrays' dtype, so that every operation rounds as NumPy's does: the result is the same bits
as the NumPy passes (tests/optim/test_update_kernels.py). NumPy's error model (a division by zero
gives inf or NaN, as in NumPy, instead of raising) is what lets the loop vectorise: with
Python's, every division tests its divisor, and the loop ran 3.7× slower.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(nogil=True, cache=True, error_model="numpy")
def adam(weight, grad, m, s, beta1, rest1, beta2, rest2, step_size, root_correction, eps):
    """weight, grad, m, s (n,) in one dtype, the scalars in that dtype (rest1 = 1 − β₁ and
    rest2 = 1 − β₂ rounded from float64, as NumPy rounds the Python floats). In place, for each i:
    m = β₁·m + (1 − β₁)·g;  s = β₂·s + (1 − β₂)·g·g;  w −= step_size · m / (√s / root_correction + ε),
    each operation in NumPy's order."""
    for i in range(weight.shape[0]):
        g = grad[i]
        moment, square = m[i] * beta1 + rest1 * g, s[i] * beta2 + rest2 * g * g
        m[i], s[i] = moment, square
        weight[i] -= step_size * (moment / (np.sqrt(square) / root_correction + eps))
