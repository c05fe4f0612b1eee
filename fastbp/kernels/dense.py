"""Dense forward pass of one layer: Z = A[l-1] W^T + b, A[l] = f(Z), fused."""

from .._config import jit
from .activations import activate


@jit
def dense_forward(a_prev, weights, biases, activation_code, a, s0, s1):
    """Forward rows ``s0:s1`` of a mini-batch through one layer.

    Parameters
    ----------
    a_prev : ndarray, shape (m, n_in)
        A[l-1], sample-major.
    weights : ndarray, shape (n_out, n_in)
        W[l]; row j holds the weights into neuron j.
    biases : ndarray, shape (n_out,)
    activation_code : int
    a : ndarray, shape (m, n_out)
        Receives A[l] for rows ``s0:s1`` (Z is not kept: derivatives use A).
    """
    n_out, n_in = weights.shape
    for s in range(s0, s1):
        for j in range(n_out):
            z = biases[j]
            for k in range(n_in):
                z += a_prev[s, k] * weights[j, k]
            a[s, j] = z
        activate(a[s], activation_code)
