"""Inverted dropout on hidden layers, with masks drawn from a counter-based hash.

During training, unit j of hidden layer l is kept for sample s of step t with
probability 1 - p_l, and its output is scaled by 1 / (1 - p_l), so that its expected
value is unchanged and prediction needs no rescaling (dropout is simply off then):

    forward   A[l] = f(Z[l]) * M[l] / (1 - p_l)          M[l] in {0, 1}
    BP2       D[l] = (D[l+1] W[l+1]) * f'(Z[l]) * M[l] / (1 - p_l)

The mask is not drawn from a stateful generator but computed from
``(seed, t, s, l, j)`` by a hash (the SplitMix64 finaliser): any thread can compute any
unit's mask bit, the forward pass and BP2 compute the same bit without storing it,
and the masks do not depend on the number of threads or on how work is shared.
``s`` is the sample's position in its mini-batch and ``t`` the optimiser's step count,
so a resumed run draws the same masks as an uninterrupted one.

The derivatives are written in terms of a = f(z) (see ``activations``); the dropped
output of a kept unit is a / (1 - p), so BP2 first undoes the scaling.
"""

import numpy as np

from .._config import jit
from .activations import derivative_from_output

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_S30, _S27, _S31, _S11 = np.uint64(30), np.uint64(27), np.uint64(31), np.uint64(11)
_TO_UNIT = 1.0 / 9007199254740992.0  # 2^-53


@jit
def _mix(x):
    """SplitMix64's finaliser: a bijection of uint64 whose output bits look random."""
    x = (x ^ (x >> _S30)) * _M1
    x = (x ^ (x >> _S27)) * _M2
    return x ^ (x >> _S31)


@jit
def row_key(seed, t, s, l):
    """The hash state of sample ``s`` of step ``t`` in layer row ``l``."""
    key = _mix(np.uint64(seed) + _GOLDEN)
    key = _mix(key ^ (np.uint64(t) * _GOLDEN))
    key = _mix(key ^ (np.uint64(s) * _M1))
    return _mix(key ^ (np.uint64(l) * _M2))


@jit
def keep(key, j, rate):
    """Whether unit ``j`` of the row with hash state ``key`` is kept (probability
    1 - ``rate``): a uniform number in [0, 1) from the top 53 bits, compared with rate."""
    u = np.float64(_mix(key + np.uint64(j + 1) * _GOLDEN) >> _S11) * _TO_UNIT
    return u >= rate


@jit
def drop_outputs(a, a_off, n, rows, s0, j0, j1, rate, seed, t, l):
    """Apply the mask to units ``j0:j1`` of A[l] for ``rows`` samples from ``a_off``
    (``n`` per sample), the first being sample ``s0`` of the batch."""
    scale = a.dtype.type(1.0 / (1.0 - rate))
    zero = a.dtype.type(0)
    for r in range(rows):
        key = row_key(seed, t, s0 + r, l)
        start = a_off + r * n
        for j in range(j0, j1):
            if keep(key, j, rate):
                a[start + j] = a[start + j] * scale
            else:
                a[start + j] = zero


@jit
def multiply_by_dropped_derivative(delta, d_off, a, a_off, n, rows, s0, k0, k1,
                                   activation_code, rate, seed, t, l):
    """``delta *= f'(z) * M / (1 - p)`` for units ``k0:k1`` of ``rows`` samples, where
    ``a`` holds the dropped outputs f(z) M / (1 - p)."""
    scale = 1.0 / (1.0 - rate)
    zero = delta.dtype.type(0)
    for r in range(rows):
        key = row_key(seed, t, s0 + r, l)
        for k in range(k0, k1):
            i = d_off + r * n + k
            if keep(key, k, rate):
                # f'(z) from f(z) = a (1 - p); computed in float64, rounded once.
                f_prime = derivative_from_output(a[a_off + r * n + k] * (1.0 - rate),
                                                 activation_code)
                delta[i] = delta[i] * delta.dtype.type(f_prime * scale)
            else:
                delta[i] = zero


@jit
def dropout_mask(seed, t, m, l, n, rate):
    """The mask M[l] of a batch of ``m`` samples at step ``t``, shape (m, n), as 0/1:
    for tests and for users who want to see it."""
    mask = np.zeros((m, n), dtype=np.uint8)
    for s in range(m):
        key = row_key(seed, t, s, l)
        for j in range(n):
            mask[s, j] = keep(key, j, rate)
    return mask
