"""Parameter updates, applied to a block of rows of one layer."""

from .._config import jit


@jit
def sgd_rows(weights, biases, grad_weights, grad_biases, learning_rate, j0, j1):
    """Plain SGD for neurons ``j0:j1``: ``W -= eta dC/dW``, ``b -= eta dC/db``."""
    eta = weights.dtype.type(learning_rate)
    n_in = weights.shape[1]
    for j in range(j0, j1):
        for k in range(n_in):
            weights[j, k] -= eta * grad_weights[j, k]
        biases[j] -= eta * grad_biases[j]
