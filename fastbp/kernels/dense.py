"""Dense forward pass of one layer: Z = A[l-1] W^T + b, A[l] = f(Z), fused (Z kept only
where f' needs it)."""

from .._config import jit
from .activations import activate
from .gemm import gemm_nt
from .structures import Rows


@jit
def dense_forward(x, x_off, n_in, weights, w_off, w_ld, biases, b_off, n_out, activation_code,
                  a, a_off, z_off, rows, j0, j1):
    """Neurons ``j0:j1`` of A[l] = f(A[l-1] W[l]^T + b[l]) for ``rows`` consecutive samples.

    Parameters
    ----------
    x : ndarray, 1-D
        A[l-1] of the samples from ``x_off``, sample-major, ``n_in`` per sample.
    weights : ndarray, 1-D
        W[l], shape (n_out, n_in) from ``w_off``, rows ``w_ld`` apart.
    biases : ndarray, 1-D
        b[l] from ``b_off``.
    a : ndarray, 1-D
        Receives A[l] from ``a_off``, ``n_out`` per sample, and Z[l] from ``z_off`` when
        ``z_off`` >= 0 (only activations whose f' needs z keep it: -1 for the others).
        Softmax needs whole rows: j0 = 0, j1 = n_out.
    """
    gemm_nt(rows, j1 - j0, n_in, Rows(x, x_off, n_in), Rows(weights, w_off + j0 * w_ld, w_ld),
            biases, b_off + j0, Rows(a, a_off + j0, n_out))
    for s in range(rows):
        start = a_off + s * n_out
        if z_off >= 0:
            z_start = z_off + s * n_out
            for j in range(j0, j1):
                a[z_start + j] = a[start + j]
        activate(a[start + j0:start + j1], activation_code)
