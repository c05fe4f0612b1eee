"""Inverted dropout on hidden layers, with masks drawn from a counter-based hash.

During training, unit j of hidden layer l is kept for sample s of step t with
probability 1 - p_l, and its output is scaled by 1 / (1 - p_l), so that its expected
value is unchanged and prediction needs no rescaling (dropout is simply off then):

    forward   A[l] = f(Z[l]) * M[l] / (1 - p_l)          M[l] in {0, 1}
    BP2       D[l] = (D[l+1] W[l+1]) * f'(Z[l]) * M[l] / (1 - p_l)

The mask is not drawn from a stateful generator but computed from
``(seed, t, s, l, j)`` by a hash (the SplitMix64 finaliser; 16 bits per unit, four
units per hash, so p is used rounded up to a multiple of 2^-16): any thread can compute
any unit's mask bit, the forward pass and BP2 compute the same bit without storing it,
and the masks do not depend on the number of threads or on how work is shared.
``s`` is the sample's position in its mini-batch and ``t`` the optimiser's step count,
so a resumed run draws the same masks as an uninterrupted one.

The derivatives are written in terms of a = f(z) (see ``activations``); the dropped
output of a kept unit is a / (1 - p), so BP2 first undoes the scaling. Activations whose
f' needs z take it from the kept Z, which dropout does not touch.
"""

import math

import numpy as np

from .._config import jit
from .activations import derivative_at

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_S30, _S27, _S31 = np.uint64(30), np.uint64(27), np.uint64(31)
_LOW16 = np.uint64(0xFFFF)


@jit(inline=True)
def _mix(x):
    """SplitMix64's finaliser: a bijection of uint64 whose output bits look random."""
    x = (x ^ (x >> _S30)) * _M1
    x = (x ^ (x >> _S27)) * _M2
    return x ^ (x >> _S31)


@jit(inline=True)
def row_key(seed, t, s, l):
    """The hash state of sample ``s`` of step ``t`` in layer row ``l``."""
    key = _mix(np.uint64(seed) + _GOLDEN)
    key = _mix(key ^ (np.uint64(t) * _GOLDEN))
    key = _mix(key ^ (np.uint64(s) * _M1))
    return _mix(key ^ (np.uint64(l) * _M2))


@jit(inline=True)
def threshold(rate):
    """``rate`` in units of 2^-16: a unit is dropped when its 16 random bits fall below
    this, so the rate used is ``ceil(rate * 65536) / 65536`` (exact to 1.5e-5)."""
    return np.uint64(math.ceil(rate * 65536.0))


@jit(inline=True)
def effective_rate(rate):
    """The rate dropout actually uses: ``rate`` rounded up to a multiple of 2^-16."""
    return np.float64(threshold(rate)) / 65536.0


@jit
def unit_bits(key, j):
    """64 random bits for units ``4 (j // 4)`` to ``4 (j // 4) + 3`` of a row: one hash
    serves four units, 16 bits each (hashing is what dropout costs)."""
    return _mix(key + np.uint64(j // 4 + 1) * _GOLDEN)


@jit(inline=True)
def keep(bits, j, limit):
    """Whether unit ``j`` is kept, from its row's ``unit_bits`` and ``threshold``."""
    return ((bits >> np.uint64(16 * (j % 4))) & _LOW16) >= limit


@jit(inline=True)
def drop_outputs(a, a_off, n, rows, s0, j0, j1, rate, seed, t, l):
    """Apply the mask to units ``j0:j1`` of A[l] for ``rows`` samples from ``a_off``
    (``n`` per sample), the first being sample ``s0`` of the batch."""
    scale = a.dtype.type(1.0 / (1.0 - effective_rate(rate)))
    zero = a.dtype.type(0)
    limit = threshold(rate)
    for r in range(rows):
        key = row_key(seed, t, s0 + r, l)
        start = a_off + r * n
        bits = unit_bits(key, j0)
        for j in range(j0, j1):
            if j % 4 == 0:
                bits = unit_bits(key, j)
            if keep(bits, j, limit):
                a[start + j] = a[start + j] * scale
            else:
                a[start + j] = zero


@jit(inline=True)
def multiply_by_dropped_derivative(D, F, rows, s0, k0, k1, activation_code, from_z, drop, t, l):
    """``delta *= f'(z) * M / (1 - p)`` for units ``k0:k1`` of ``rows`` samples of D[l]
    (``D``, a ``Rows``), the first being sample ``s0`` of the batch, where ``F`` holds
    the dropped outputs f(z) M / (1 - p), or with ``from_z`` Z itself; ``drop`` is a
    ``Dropout`` (rate ``drop.rates[l]``), ``t`` the step."""
    delta, d_off, n = D
    a, a_off, _ = F
    rate, seed = drop.rates[l], drop.seed
    p = effective_rate(rate)
    scale = 1.0 / (1.0 - p)
    zero = delta.dtype.type(0)
    limit = threshold(rate)
    for r in range(rows):
        key = row_key(seed, t, s0 + r, l)
        bits = unit_bits(key, k0)
        for k in range(k0, k1):
            if k % 4 == 0:
                bits = unit_bits(key, k)
            i = d_off + r * n + k
            if keep(bits, k, limit):
                # f'(z) from z, or from f(z) = a (1 - p); in float64, rounded once.
                x = a[a_off + r * n + k]
                f_prime = derivative_at(x if from_z else x * (1.0 - p), activation_code)
                delta[i] = delta[i] * delta.dtype.type(f_prime * scale)
            else:
                delta[i] = zero


@jit
def dropout_mask(seed, t, m, l, n, rate):
    """The mask M[l] of a batch of ``m`` samples at step ``t``, shape (m, n), as 0/1:
    for tests and for users who want to see it."""
    mask = np.zeros((m, n), dtype=np.uint8)
    limit = threshold(rate)
    for s in range(m):
        key = row_key(seed, t, s, l)
        for j in range(n):
            mask[s, j] = keep(unit_bits(key, j), j, limit)
    return mask
