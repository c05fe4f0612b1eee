"""Costs C(a, y) of one sample and the output error D[L] of BP1, selected by integer code,
and the registry of costs by name.

    quadratic              C = 1/2 sum_j (a_j - y_j)^2
    binary cross-entropy   C = -sum_j [y_j log a_j + (1 - y_j) log(1 - a_j)]   (sigmoid output)
    cross-entropy          C = -sum_j y_j log a_j                              (softmax output)
"""

import math
from typing import NamedTuple

from .._config import jit
from .activations import SOFTMAX, multiply_by_derivative

QUADRATIC = 0
BINARY_CROSS_ENTROPY = 1
CROSS_ENTROPY = 2


class Cost(NamedTuple):
    """An entry of ``COSTS``."""
    code: int             # the kernels' code
    output: str           # the output activation it implies (the Trainer's default)
    needs_output: bool    # BP1's simplification holds only after that output


# The costs by name: what the trainer, the CLI, the files and the tests read.
COSTS = {
    "quadratic": Cost(QUADRATIC, "identity", False),
    "binary_cross_entropy": Cost(BINARY_CROSS_ENTROPY, "sigmoid", True),
    "cross_entropy": Cost(CROSS_ENTROPY, "softmax", True),
}

# Probabilities are clipped to [EPSILON, 1 - EPSILON] before the logarithm (in float64).
EPSILON = 1e-12


@jit(inline=True)
def cost(a, y, cost_code):
    """C(a, y) for one sample, accumulated in float64.

    Parameters
    ----------
    a, y : ndarray, shape (n_L,)
        Output activations and target of one sample.
    """
    total = 0.0
    if cost_code == QUADRATIC:
        for j in range(a.shape[0]):
            d = float(a[j]) - float(y[j])
            total += 0.5 * d * d
    elif cost_code == BINARY_CROSS_ENTROPY:
        for j in range(a.shape[0]):
            p = min(max(float(a[j]), EPSILON), 1.0 - EPSILON)
            t = float(y[j])
            total -= t * math.log(p) + (1.0 - t) * math.log(1.0 - p)
    else:
        for j in range(a.shape[0]):
            if y[j] != 0:
                p = max(float(a[j]), EPSILON)
                total -= float(y[j]) * math.log(p)
    return total


@jit(inline=True)
def output_delta(a, y, activation_code, cost_code, delta, x):
    """BP1: ``delta = dC/da * f'(z)`` for one sample of the output layer.

    For binary cross-entropy after a sigmoid and cross-entropy after a softmax the
    product simplifies to ``a - y`` (f' cancels the cost's denominator); callers
    guarantee those pairings. The quadratic cost works after any activation; after
    a softmax its non-diagonal Jacobian gives ``a * (g - sum_k g_k a_k)``, g = a - y.
    ``x`` is what f' is computed from: ``a``, or z where the activation needs it.
    """
    n = a.shape[0]
    for j in range(n):
        delta[j] = a[j] - y[j]
    if cost_code != QUADRATIC:
        return
    if activation_code == SOFTMAX:
        g_dot_a = a.dtype.type(0)
        for k in range(n):
            g_dot_a += delta[k] * a[k]
        for j in range(n):
            delta[j] = a[j] * (delta[j] - g_dot_a)
    else:
        multiply_by_derivative(delta, x, activation_code)
