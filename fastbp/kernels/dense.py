"""Dense forward pass of one layer: Z = A[l-1] W^T + b, A[l] = f(Z), fused (Z kept only
where f' needs it)."""

from .._config import jit
from .activations import activate
from .gemm import copy, gemm_nt
from .linked import compiled_alone
from .structures import Rows


@jit(inline=True)
def dense_forward(X, W, b_off, A, z_off, activation_code, rows, j0, j1):
    """Neurons ``j0:j1`` of A[l] = f(A[l-1] W[l]^T + b[l]) for ``rows`` consecutive samples.

    Parameters
    ----------
    X : Rows
        A[l-1] of the samples, ``X.ld`` = n_in per sample.
    W : Rows
        W[l], shape (n_out, n_in), rows ``W.ld`` apart; b[l] is in the same buffer,
        from ``b_off``.
    A : Rows
        Receives A[l], ``A.ld`` = n_out per sample, and Z[l] from ``z_off`` in the same
        buffer when ``z_off`` >= 0 (only activations whose f' needs z keep it: -1 for
        the others). Softmax needs whole rows: j0 = 0, j1 = n_out.
    """
    gemm_nt(rows, j1 - j0, X.ld, X, Rows(W.data, W.offset + j0 * W.ld, W.ld), W.data,
            b_off + j0, Rows(A.data, A.offset + j0, A.ld))
    activate_rows(A, z_off, activation_code, rows, j0, j1)


def _activate_rows(A, z_off, activation_code, rows, j0, j1):
    """A = f(Z) in place for neurons ``j0:j1`` of ``rows`` samples whose Z is in ``A``,
    Z first copied to ``z_off`` (>= 0) where it is kept."""
    a, a_off, n_out = A
    for s in range(rows):
        start = a_off + s * n_out
        if z_off >= 0:
            copy(a[start + j0:], a[z_off + s * n_out + j0:], j1 - j0)
        activate(a[start + j0:start + j1], activation_code)


activate_rows = compiled_alone("activate_rows", _activate_rows)
