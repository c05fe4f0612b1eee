"""Plain-NumPy backpropagation, written from the equations, to check the kernels against.

Slow and obvious on purpose: whole-matrix NumPy expressions, derivatives taken from z
(the kernels take most from a), the softmax Jacobian written out in full, float64
throughout unless the caller passes float32 arrays.

Careful where that costs nothing in clarity, so that the same reference serves the
stability tests at pre-activations of +-1e4: each f and f' in its stable form (two-sided
sigmoid, shifted softmax, ``logaddexp`` for softplus, ``expm1`` for ELU, ``erfc`` for
GELU, derivatives that never subtract nearly equal numbers), the costs' probabilities
clipped to [EPSILON, 1 - EPSILON] before the logarithm as the kernels document, and BP1
of the cross-entropies in the cancelled form ``a - y`` (equal to the chain rule
dC/da f'(z) wherever that is finite; ``test_kernels`` checks so).
"""

import math

import numpy as np

from fastbp.kernels.mixed import FLOAT32_BELOW

EPSILON = 1e-12  # the kernels' clipping of probabilities (fastbp.kernels.costs)
_erfc = np.vectorize(math.erfc, otypes=[float])


def sigmoid(z):
    e = np.exp(-np.abs(z))  # never overflows
    return np.where(z >= 0, 1 / (1 + e), e / (1 + e))


def softmax(z):
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def normal_cdf(z):
    """Phi(z) = erfc(-z / sqrt 2) / 2: no cancellation where it is small."""
    return 0.5 * _erfc(z * -np.sqrt(0.5))


def normal_pdf(z):
    return np.exp(-0.5 * z * z) / np.sqrt(2 * np.pi)


def _sech2(z):
    e = np.exp(-2 * np.abs(z))
    return 4 * e / (1 + e) ** 2


ACTIVATIONS = {
    "identity": lambda z: z,
    "sigmoid": sigmoid,
    "tanh": np.tanh,
    "relu": lambda z: np.maximum(z, 0),
    "leaky_relu": lambda z: np.where(z > 0, z, 0.01 * z),
    "elu": lambda z: np.where(z > 0, z, np.expm1(np.minimum(z, 0))),
    "softplus": lambda z: np.logaddexp(0, z),
    "softmax": softmax,
    "gelu": lambda z: z * normal_cdf(z),
    "silu": lambda z: z * sigmoid(z),
}

DERIVATIVES = {  # f'(z), elementwise, each without cancellation or overflow
    "identity": np.ones_like,
    "sigmoid": lambda z: sigmoid(z) * sigmoid(-z),
    "tanh": _sech2,
    "relu": lambda z: (z > 0).astype(z.dtype),
    "leaky_relu": lambda z: np.where(z > 0, 1.0, 0.01),
    "elu": lambda z: np.where(z > 0, 1.0, np.exp(np.minimum(z, 0))),
    "softplus": sigmoid,
    "gelu": lambda z: normal_cdf(z) + z * normal_pdf(z),
    "silu": lambda z: sigmoid(z) * (1 + z * sigmoid(-z)),
}


def cost(a, y, name, sample_weight=None):
    """Mean over samples of C(a, y) (each times its weight, when given)."""
    if name == "quadratic":
        c = 0.5 * ((a - y) ** 2).sum(axis=1)
    elif name == "binary_cross_entropy":
        p = np.clip(a, EPSILON, 1 - EPSILON)
        c = -(y * np.log(p) + (1 - y) * np.log(1 - p)).sum(axis=1)
    else:
        p = np.maximum(a, EPSILON)
        c = -np.where(y != 0, y * np.log(p), 0).sum(axis=1)
    if sample_weight is not None:
        c = c * sample_weight
    return c.mean()


def bf16(x):
    """x rounded to float32, then to the nearest bfloat16 (ties to even), as float64."""
    bits = np.asarray(x, dtype=np.float32).view(np.uint32).astype(np.uint64)
    rounded = ((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16) << 16
    return rounded.astype(np.uint32).view(np.float32).astype(np.float64)


def bf16_product(a, b):
    """A matrix product as precision "bf16-mixed" takes it: bfloat16 operands, the sums
    in float64 (the kernels': float32)."""
    return bf16(a) @ bf16(b)


def layer_product(product, n_out):
    """How the products of a layer of ``n_out`` neurons are taken: bf16-mixed keeps a
    layer of few neurons in float32 (FLOAT32_BELOW)."""
    return product if n_out >= FLOAT32_BELOW else np.matmul


def forward(weights, biases, activations, X, masks=None, product=np.matmul):
    """Lists Z[1..L] and A[0..L] (A[0] = X). ``masks``: inverted dropout, one array
    M[l] / (1 - p_l) per hidden layer multiplied into its output. ``product``: how the
    matrix products are taken (``bf16_product`` for "bf16-mixed")."""
    zs, As = [], [X]
    for l, (W, b, f) in enumerate(zip(weights, biases, activations)):
        z = layer_product(product, W.shape[0])(As[-1], W.T) + b
        zs.append(z)
        a = ACTIVATIONS[f](z)
        As.append(a * masks[l] if masks is not None and l < len(masks) else a)
    return zs, As


def output_delta(z, a, y, activation, cost_name):
    """BP1: D[L] = dC/dA[L] * f'(Z[L]) per sample (before the batch mean); for the
    cross-entropies after their outputs, the cancelled form a - y."""
    if cost_name != "quadratic":
        return a - y
    return chain_rule(z, a, a - y, activation)


def chain_rule(z, a, grad_a, activation):
    """dC/dZ[L] = dC/dA[L] * f'(Z[L]) per sample, from dC/dA[L]."""
    if activation == "softmax":
        # D_j = sum_k dC/da_k da_k/dz_j with da_k/dz_j = a_k (delta_kj - a_j).
        jacobian = np.einsum("sk,kj->skj", a, np.eye(a.shape[1])) - np.einsum("sk,sj->skj", a, a)
        return np.einsum("sk,skj->sj", grad_a, jacobian)
    return grad_a * DERIVATIVES[activation](z)


def backprop(weights, biases, activations, cost_name, X, Y, sample_weight=None, masks=None,
             product=np.matmul):
    """Gradients of the mean cost: lists dC/dW[1..L], dC/db[1..L]. With
    ``sample_weight`` the cost is the mean of the weighted per-sample costs; with
    ``masks`` (see ``forward``) that of the network with those units dropped;
    ``product`` as in ``forward``."""
    zs, As = forward(weights, biases, activations, X, masks, product)
    m = X.shape[0]
    delta = output_delta(zs[-1], As[-1], Y, activations[-1], cost_name)
    if sample_weight is not None:
        delta = delta * sample_weight[:, None]
    grad_w = [None] * len(weights)
    grad_b = [None] * len(weights)
    for l in range(len(weights) - 1, -1, -1):
        grad_b[l] = delta.sum(axis=0) / m                      # BP3
        product_l = layer_product(product, delta.shape[1])
        grad_w[l] = product_l(delta.T, As[l]) / m              # BP4
        if l > 0:
            delta = product_l(delta, weights[l]) * DERIVATIVES[activations[l - 1]](zs[l - 1])  # BP2
            if masks is not None:
                delta = delta * masks[l - 1]
    return grad_w, grad_b


def train_epoch(weights, biases, activations, cost_name, X, Y, order, batch_size, learning_rate,
                sample_weight=None, product=np.matmul):
    """One epoch of mini-batch SGD in the given sample order; returns the updated
    parameters and the mean cost of the samples, each taken before its batch's update
    (weighted by ``sample_weight`` when given)."""
    weights = [W.copy() for W in weights]
    biases = [b.copy() for b in biases]
    total = 0.0
    for start in range(0, len(order), batch_size):
        batch = order[start:start + batch_size]
        w = None if sample_weight is None else sample_weight[batch]
        _, As = forward(weights, biases, activations, X[batch], product=product)
        total += cost(As[-1], Y[batch], cost_name, w) * len(batch)
        grad_w, grad_b = backprop(weights, biases, activations, cost_name, X[batch], Y[batch], w,
                                  product=product)
        for l in range(len(weights)):
            weights[l] -= learning_rate * grad_w[l]
            biases[l] -= learning_rate * grad_b[l]
    return weights, biases, total / len(order)


def one_hot(labels, n_classes):
    Y = np.zeros((len(labels), n_classes))
    Y[np.arange(len(labels)), labels] = 1
    return Y
