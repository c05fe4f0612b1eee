"""Plain-NumPy backpropagation, written from the equations, to check the kernels against.

Slow and obvious on purpose: whole-matrix NumPy expressions, derivatives taken from z
(the kernels take them from a), the softmax Jacobian written out in full, float64
throughout unless the caller passes float32 arrays.
"""

import numpy as np


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


ACTIVATIONS = {
    "identity": lambda z: z,
    "sigmoid": sigmoid,
    "tanh": np.tanh,
    "relu": lambda z: np.maximum(z, 0),
    "leaky_relu": lambda z: np.where(z > 0, z, 0.01 * z),
    "elu": lambda z: np.where(z > 0, z, np.exp(np.minimum(z, 0)) - 1),
    "softplus": lambda z: np.log1p(np.exp(-np.abs(z))) + np.maximum(z, 0),
    "softmax": softmax,
}

DERIVATIVES = {  # f'(z), elementwise
    "identity": lambda z: np.ones_like(z),
    "sigmoid": lambda z: sigmoid(z) * (1 - sigmoid(z)),
    "tanh": lambda z: 1 - np.tanh(z) ** 2,
    "relu": lambda z: (z > 0).astype(z.dtype),
    "leaky_relu": lambda z: np.where(z > 0, 1.0, 0.01),
    "elu": lambda z: np.where(z > 0, 1.0, np.exp(np.minimum(z, 0))),
    "softplus": sigmoid,
}


def cost(a, y, name, sample_weight=None):
    """Mean over samples of C(a, y) (each times its weight, when given)."""
    if name == "quadratic":
        c = 0.5 * ((a - y) ** 2).sum(axis=1)
    elif name == "binary_cross_entropy":
        c = -(y * np.log(a) + (1 - y) * np.log(1 - a)).sum(axis=1)
    else:
        c = -(y * np.log(a)).sum(axis=1)
    if sample_weight is not None:
        c = c * sample_weight
    return c.mean()


def forward(weights, biases, activations, X, masks=None):
    """Lists Z[1..L] and A[0..L] (A[0] = X). ``masks``: inverted dropout, one array
    M[l] / (1 - p_l) per hidden layer multiplied into its output."""
    zs, As = [], [X]
    for l, (W, b, f) in enumerate(zip(weights, biases, activations)):
        z = As[-1] @ W.T + b
        zs.append(z)
        a = ACTIVATIONS[f](z)
        As.append(a * masks[l] if masks is not None and l < len(masks) else a)
    return zs, As


def output_delta(z, a, y, activation, cost_name):
    """BP1: D[L] = dC/dA[L] * f'(Z[L]) per sample (before the batch mean)."""
    if cost_name == "quadratic":
        grad_a = a - y
    elif cost_name == "binary_cross_entropy":
        grad_a = (a - y) / (a * (1 - a))
    else:
        grad_a = -y / a
    if activation == "softmax":
        # D_j = sum_k dC/da_k da_k/dz_j with da_k/dz_j = a_k (delta_kj - a_j).
        jacobian = np.einsum("sk,kj->skj", a, np.eye(a.shape[1])) - np.einsum("sk,sj->skj", a, a)
        return np.einsum("sk,skj->sj", grad_a, jacobian)
    return grad_a * DERIVATIVES[activation](z)


def backprop(weights, biases, activations, cost_name, X, Y, sample_weight=None, masks=None):
    """Gradients of the mean cost: lists dC/dW[1..L], dC/db[1..L]. With
    ``sample_weight`` the cost is the mean of the weighted per-sample costs; with
    ``masks`` (see ``forward``) that of the network with those units dropped."""
    zs, As = forward(weights, biases, activations, X, masks)
    m = X.shape[0]
    delta = output_delta(zs[-1], As[-1], Y, activations[-1], cost_name)
    if sample_weight is not None:
        delta = delta * sample_weight[:, None]
    grad_w = [None] * len(weights)
    grad_b = [None] * len(weights)
    for l in range(len(weights) - 1, -1, -1):
        grad_b[l] = delta.sum(axis=0) / m                      # BP3
        grad_w[l] = delta.T @ As[l] / m                        # BP4
        if l > 0:
            delta = (delta @ weights[l]) * DERIVATIVES[activations[l - 1]](zs[l - 1])  # BP2
            if masks is not None:
                delta = delta * masks[l - 1]
    return grad_w, grad_b


def train_epoch(weights, biases, activations, cost_name, X, Y, order, batch_size, learning_rate,
                sample_weight=None):
    """One epoch of mini-batch SGD in the given sample order; returns the updated
    parameters and the mean cost of the samples, each taken before its batch's update
    (weighted by ``sample_weight`` when given)."""
    weights = [W.copy() for W in weights]
    biases = [b.copy() for b in biases]
    total = 0.0
    for start in range(0, len(order), batch_size):
        batch = order[start:start + batch_size]
        w = None if sample_weight is None else sample_weight[batch]
        _, As = forward(weights, biases, activations, X[batch])
        total += cost(As[-1], Y[batch], cost_name, w) * len(batch)
        grad_w, grad_b = backprop(weights, biases, activations, cost_name, X[batch], Y[batch], w)
        for l in range(len(weights)):
            weights[l] -= learning_rate * grad_w[l]
            biases[l] -= learning_rate * grad_b[l]
    return weights, biases, total / len(order)


def one_hot(labels, n_classes):
    Y = np.zeros((len(labels), n_classes))
    Y[np.arange(len(labels)), labels] = 1
    return Y
