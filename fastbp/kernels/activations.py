"""Activation functions f and their derivatives f', selected by integer code.

Kernels take the code, not a function object, so that their compiled form can be
cached on disk (a jitted function passed as an argument defeats the cache).

Derivatives are written in terms of the layer's output ``a = f(z)``
(``sigmoid' = a (1 - a)``, ``tanh' = 1 - a^2``, ``relu' = [a > 0]``,
``leaky_relu' = 1 or ALPHA``, ``elu' = 1 or a + 1``, ``softplus' = 1 - exp(-a)``), so
``z`` need not be kept after the forward pass: the forward kernel overwrites ``z`` with
``a``. (Each of these f is monotonic, which is what makes f' a function of a.)
"""

import math

import numpy as np

from .._config import jit

IDENTITY = 0
SIGMOID = 1
TANH = 2
RELU = 3
SOFTMAX = 4
LEAKY_RELU = 5
ELU = 6
SOFTPLUS = 7

ACTIVATION_CODES = {
    "identity": IDENTITY,
    "sigmoid": SIGMOID,
    "tanh": TANH,
    "relu": RELU,
    "softmax": SOFTMAX,
    "leaky_relu": LEAKY_RELU,
    "elu": ELU,
    "softplus": SOFTPLUS,
}

LEAKY_SLOPE = 0.01  # leaky ReLU: f(z) = z for z > 0, LEAKY_SLOPE z otherwise
# ELU: f(z) = z for z > 0, exp(z) - 1 otherwise (alpha = 1)


@jit
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
    # IDENTITY: a = z already.


@jit
def multiply_by_derivative(delta, a, code):
    """``delta *= f'(z)``, elementwise, with ``f'`` written in terms of ``a = f(z)``.

    Not defined for softmax, whose Jacobian is not diagonal (see ``costs.output_delta``).
    """
    n = delta.shape[0]
    zero = a.dtype.type(0)
    one = a.dtype.type(1)
    if code == SIGMOID:
        for j in range(n):
            delta[j] = delta[j] * (a[j] * (one - a[j]))
    elif code == TANH:
        for j in range(n):
            delta[j] = delta[j] * (one - a[j] * a[j])
    elif code == RELU:
        for j in range(n):
            if a[j] <= zero:
                delta[j] = zero
    elif code == LEAKY_RELU:
        slope = a.dtype.type(LEAKY_SLOPE)
        for j in range(n):
            if a[j] <= zero:
                delta[j] = delta[j] * slope
    elif code == ELU:
        for j in range(n):  # for z < 0: f' = exp(z) = a + 1
            if a[j] <= zero:
                delta[j] = delta[j] * (a[j] + one)
    elif code == SOFTPLUS:
        for j in range(n):  # f' = sigmoid(z) = 1 - exp(-a)
            delta[j] = delta[j] * -math.expm1(-a[j])
    # IDENTITY: f' = 1.



@jit
def derivative_from_output(a, code):
    """f'(z) of one unit from its output ``a = f(z)``, in float64: the scalar form of
    ``multiply_by_derivative`` (not defined for softmax)."""
    a = np.float64(a)
    if code == SIGMOID:
        return a * (1.0 - a)
    if code == TANH:
        return 1.0 - a * a
    if code == RELU:
        return 1.0 if a > 0.0 else 0.0
    if code == LEAKY_RELU:
        return 1.0 if a > 0.0 else LEAKY_SLOPE
    if code == ELU:
        return 1.0 if a > 0.0 else a + 1.0
    if code == SOFTPLUS:
        return -math.expm1(-a)
    return 1.0
