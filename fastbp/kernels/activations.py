"""Activation functions f and their derivatives f', selected by integer code, and the
registry of activations by name.

Kernels take the code, not a function object, so that their compiled form can be
cached on disk (a jitted function passed as an argument defeats the cache).

Derivatives of the monotonic activations are written in terms of the layer's output
``a = f(z)`` (``sigmoid' = a (1 - a)``, ``tanh' = 1 - a^2``, ``relu' = [a > 0]``,
``leaky_relu' = 1 or ALPHA``, ``elu' = 1 or a + 1``, ``softplus' = 1 - exp(-a)``), so
``z`` need not be kept after the forward pass: the forward kernel overwrites ``z`` with
``a``. A non-monotonic f (GELU, SiLU) is not a function of a, so its f' is computed
from z: for such layers (``needs_z`` in ``ACTIVATIONS``) the forward pass keeps a copy
of Z in the activation workspace (see ``layout``), and only for them.

    gelu   f(z) = z Phi(z) = z erfc(-z / sqrt 2) / 2       f' = Phi(z) + z phi(z)
    silu   f(z) = z sigma(z)                              f' = sigma(z) (1 + z (1 - sigma(z)))

GELU is the exact form with the error function (``math.erfc``, which Numba compiles),
not the tanh approximation; Phi and phi are the standard normal distribution function
and density.
"""

import math
from typing import NamedTuple

import numpy as np

from .._config import jit
from .linked import compiled_alone

IDENTITY = 0
SIGMOID = 1
TANH = 2
RELU = 3
SOFTMAX = 4
LEAKY_RELU = 5
ELU = 6
SOFTPLUS = 7
GELU = 8
SILU = 9


class Activation(NamedTuple):
    """An entry of ``ACTIVATIONS``."""
    code: int             # the kernels' code
    init: str             # the weights' initialisation (``Network.INITIALIZERS``)
    needs_z: bool = False  # f' is computed from z, which the forward pass then keeps
    hidden: bool = True    # usable in a hidden layer (softmax is an output only)


# The activations by name: what the network, the CLI, the estimators and the tests read.
ACTIVATIONS = {
    "identity": Activation(IDENTITY, "glorot"),
    "sigmoid": Activation(SIGMOID, "glorot"),
    "tanh": Activation(TANH, "glorot"),
    "relu": Activation(RELU, "he"),
    "softmax": Activation(SOFTMAX, "glorot", hidden=False),
    "leaky_relu": Activation(LEAKY_RELU, "he"),
    "elu": Activation(ELU, "he"),
    "softplus": Activation(SOFTPLUS, "glorot"),
    "gelu": Activation(GELU, "he", needs_z=True),
    "silu": Activation(SILU, "he", needs_z=True),
}
HIDDEN_ACTIVATIONS = tuple(sorted(name for name, f in ACTIVATIONS.items() if f.hidden))

LEAKY_SLOPE = 0.01  # leaky ReLU: f(z) = z for z > 0, LEAKY_SLOPE z otherwise
# ELU: f(z) = z for z > 0, exp(z) - 1 otherwise (alpha = 1)
INV_SQRT2 = 0.7071067811865476      # 1 / sqrt(2): Phi(z) = erfc(-z INV_SQRT2) / 2
INV_SQRT_2PI = 0.3989422804014327   # 1 / sqrt(2 pi): phi(z) = INV_SQRT_2PI exp(-z^2 / 2)


@jit(inline=True)
def activate(a, code):
    """Replace the pre-activations ``z`` held in the row ``a`` by ``f(z)``, in place.

    Parameters
    ----------
    a : ndarray, shape (n,)
        On entry ``z`` of one sample in one layer; on exit ``a = f(z)``.
    code : int
        One of the activation codes of this module.
    """
    n = a.shape[0]
    zero = a.dtype.type(0)
    one = a.dtype.type(1)
    if code == SIGMOID:
        # Two branches so that exp never overflows, whatever the sign of z.
        for j in range(n):
            z = a[j]
            if z >= zero:
                a[j] = one / (one + math.exp(-z))
            else:
                e = math.exp(z)
                a[j] = e / (one + e)
    elif code == TANH:
        for j in range(n):
            a[j] = math.tanh(a[j])
    elif code == RELU:
        for j in range(n):
            if a[j] < zero:  # written so that NaN stays NaN
                a[j] = zero
    elif code == LEAKY_RELU:
        slope = a.dtype.type(LEAKY_SLOPE)
        for j in range(n):
            if a[j] < zero:
                a[j] = slope * a[j]
    elif code == ELU:
        for j in range(n):
            if a[j] < zero:
                a[j] = math.expm1(a[j])
    elif code == SOFTPLUS:
        # log(1 + e^z) = max(z, 0) + log1p(e^-|z|): no overflow for large |z|.
        for j in range(n):
            z = a[j]
            a[j] = max(z, zero) + math.log1p(math.exp(-abs(z)))
    elif code == SOFTMAX:
        # Shift by the maximum so that exp never overflows.
        z_max = a[0]
        for j in range(1, n):
            if a[j] > z_max:
                z_max = a[j]
        total = zero
        for j in range(n):
            e = math.exp(a[j] - z_max)
            a[j] = e
            total += e
        for j in range(n):
            a[j] = a[j] / total
    elif code == GELU:
        # erfc of -z: no cancellation where Phi(z) is small (1 + erf(z) would cancel).
        half = a.dtype.type(0.5)
        inv_sqrt2 = a.dtype.type(INV_SQRT2)
        for j in range(n):
            z = a[j]
            a[j] = z * (half * math.erfc(z * -inv_sqrt2))
    elif code == SILU:
        for j in range(n):
            z = a[j]
            a[j] = z * _sigmoids(z, one)[0]
    # IDENTITY: a = z already.


@jit(inline=True)
def _sigmoids(z, one):
    """(sigma(z), 1 - sigma(z)) = (sigma(z), sigma(-z)) without cancellation or overflow,
    in the type of ``one`` (1 in the compute type)."""
    e = math.exp(-abs(z))
    r = one / (one + e)
    return (r, e * r) if z >= 0 else (e * r, r)


def _multiply_by_derivative(delta, x, code):
    """``delta *= f'(z)``, elementwise, with ``f'`` computed from ``x``: the output
    ``a = f(z)``, or for the activations with ``needs_z`` (GELU, SiLU) z itself.

    Not defined for softmax, whose Jacobian is not diagonal (see ``costs.output_delta``).
    """
    n = delta.shape[0]
    zero = x.dtype.type(0)
    one = x.dtype.type(1)
    if code == SIGMOID:
        for j in range(n):
            delta[j] = delta[j] * (x[j] * (one - x[j]))
    elif code == TANH:
        for j in range(n):
            delta[j] = delta[j] * (one - x[j] * x[j])
    elif code == RELU:
        for j in range(n):
            if x[j] <= zero:
                delta[j] = zero
    elif code == LEAKY_RELU:
        slope = x.dtype.type(LEAKY_SLOPE)
        for j in range(n):
            if x[j] <= zero:
                delta[j] = delta[j] * slope
    elif code == ELU:
        for j in range(n):  # for z < 0: f' = exp(z) = a + 1
            if x[j] <= zero:
                delta[j] = delta[j] * (x[j] + one)
    elif code == SOFTPLUS:
        for j in range(n):  # f' = sigmoid(z) = 1 - exp(-a)
            delta[j] = delta[j] * -math.expm1(-x[j])
    elif code == GELU:  # x = z: f' = Phi(z) + z phi(z)
        half = x.dtype.type(0.5)
        inv_sqrt2 = x.dtype.type(INV_SQRT2)
        inv_sqrt_2pi = x.dtype.type(INV_SQRT_2PI)
        for j in range(n):
            z = x[j]
            delta[j] = delta[j] * (half * math.erfc(z * -inv_sqrt2)
                                   + z * (inv_sqrt_2pi * math.exp(-half * (z * z))))
    elif code == SILU:  # x = z: f' = sigma(z) (1 + z (1 - sigma(z)))
        for j in range(n):
            z = x[j]
            s, s_bar = _sigmoids(z, one)
            delta[j] = delta[j] * (s * (one + z * s_bar))
    # IDENTITY: f' = 1.


multiply_by_derivative = compiled_alone("multiply_by_derivative", _multiply_by_derivative)


@jit(inline=True)
def derivative_at(x, code):
    """f'(z) of one unit from ``x`` (its output ``a = f(z)``, or z where the activation
    ``needs_z``), in float64: the scalar form of ``multiply_by_derivative`` (not defined
    for softmax)."""
    x = np.float64(x)
    if code == SIGMOID:
        return x * (1.0 - x)
    if code == TANH:
        return 1.0 - x * x
    if code == RELU:
        return 1.0 if x > 0.0 else 0.0
    if code == LEAKY_RELU:
        return 1.0 if x > 0.0 else LEAKY_SLOPE
    if code == ELU:
        return 1.0 if x > 0.0 else x + 1.0
    if code == SOFTPLUS:
        return -math.expm1(-x)
    if code == GELU:
        return 0.5 * math.erfc(x * -INV_SQRT2) + x * (INV_SQRT_2PI * math.exp(-0.5 * (x * x)))
    if code == SILU:
        s, s_bar = _sigmoids(x, 1.0)
        return s * (1.0 + x * s_bar)
    return 1.0
