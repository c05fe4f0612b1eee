"""The backward equations for one layer: BP2 (delta recursion), BP3 and BP4 (gradients)."""

from .._config import jit
from .activations import multiply_by_derivative


@jit
def delta_backward(delta_next, weights_next, a, activation_code, delta, s0, s1):
    """BP2 for rows ``s0:s1``: ``D[l] = (D[l+1] W[l+1]) * f_l'(Z[l])``.

    Parameters
    ----------
    delta_next : ndarray, shape (m, n_next)
        D[l+1].
    weights_next : ndarray, shape (n_next, n)
        W[l+1].
    a : ndarray, shape (m, n)
        A[l], from which f_l' is computed.
    delta : ndarray, shape (m, n)
        Receives D[l] for rows ``s0:s1``.
    """
    n_next, n = weights_next.shape
    zero = delta.dtype.type(0)
    for s in range(s0, s1):
        for k in range(n):
            delta[s, k] = zero
        # Row s of D[l+1] W[l+1] as a sum of rows of W[l+1]: the inner loop runs
        # over contiguous memory.
        for j in range(n_next):
            d = delta_next[s, j]
            for k in range(n):
                delta[s, k] += d * weights_next[j, k]
        multiply_by_derivative(delta[s], a[s], activation_code)


@jit
def gradient_rows(delta, a_prev, grad_weights, grad_biases, j0, j1):
    """BP3 and BP4 for neurons ``j0:j1``: the batch means of D[l] and of D[l]^T A[l-1].

    Each entry is a sum over the samples in index order, whichever thread computes
    it, so the gradient does not depend on how rows are shared among threads.

    Parameters
    ----------
    delta : ndarray, shape (m, n_out)
        D[l].
    a_prev : ndarray, shape (m, n_in)
        A[l-1].
    grad_weights : ndarray, shape (n_out, n_in)
        Receives dC/dW[l] for rows ``j0:j1``.
    grad_biases : ndarray, shape (n_out,)
        Receives dC/db[l] for entries ``j0:j1``.
    """
    m, n_in = a_prev.shape
    zero = delta.dtype.type(0)
    inv_m = delta.dtype.type(1.0 / m)
    for j in range(j0, j1):
        for k in range(n_in):
            grad_weights[j, k] = zero
        db = zero
        for s in range(m):
            d = delta[s, j]
            db += d
            for k in range(n_in):
                grad_weights[j, k] += d * a_prev[s, k]
        for k in range(n_in):
            grad_weights[j, k] *= inv_m
        grad_biases[j] = db * inv_m
