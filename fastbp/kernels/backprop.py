"""The backward equations for one layer: BP2 (delta recursion), BP3 and BP4 (gradients)."""

from .._config import jit
from .activations import multiply_by_derivative
from .gemm import gemm
from .structures import Matrix, Rows


@jit(inline=True)
def delta_product(D_next, W, D, rows, k0, k1, pack):
    """The first factor of BP2, ``D[l] = (D[l+1] W[l+1]) * f_l'(Z[l])``, for neurons
    ``k0:k1`` of ``rows`` consecutive samples (``derivative_rows`` is the second).

    Parameters
    ----------
    D_next : Rows
        D[l+1], ``D_next.ld`` = n_{l+1} per sample.
    W : Rows
        W[l+1], shape (n_{l+1}, n_l), rows ``W.ld`` apart.
    D : Rows
        Receives D[l], ``D.ld`` = n_l per sample.
    pack : ndarray, 1-D
        The calling thread's scratch for ``gemm``.
    """
    gemm(rows, k1 - k0, D_next.ld, 1.0, Matrix(D_next.data, D_next.offset, D_next.ld, 1),
         Rows(W.data, W.offset + k0, W.ld), Rows(D.data, D.offset + k0, D.ld), False, pack)


@jit(inline=True)
def derivative_rows(F, activation_code, D, rows, k0, k1):
    """The second factor of BP2: D[l] *= f_l' for neurons ``k0:k1`` of ``rows``
    samples; ``F`` (n_l per sample) is what f_l' is computed from: A[l], or Z[l] for
    activations that need z (see ``activations``)."""
    for s in range(rows):
        d = D.offset + s * D.ld
        f = F.offset + s * F.ld
        multiply_by_derivative(D.data[d + k0:d + k1], F.data[f + k0:f + k1], activation_code)


@jit(inline=True)
def gradient_rows(D, A, m, W, b_off, j0, j1, step, pack):
    """BP3 and BP4 for neurons ``j0:j1`` as sums over the batch, D[l]^T A[l-1] and the
    column sums of D[l] (m times dC/dW[l] and dC/db[l]), written to W's rows and to
    b[l] or, with ``step`` > 0, applied to them as the SGD update ``-= step * sums``.

    The update is fused: the products of the batch accumulate onto W[l] itself
    (alpha = -step in ``gemm``), so the gradient never passes through memory.
    With ``step`` = eta / m this is W -= eta dC/dW. Each entry is a sum over the ``m``
    samples in index order, whichever thread computes it, so the result does not depend
    on how rows are shared among threads.

    Parameters
    ----------
    D : Rows
        D[l] of the batch, ``D.ld`` = n_out per sample.
    A : Rows
        A[l-1] of the batch, ``A.ld`` = n_in per sample (the row length of the sums).
    W : Rows
        Parameters (``step`` > 0) or gradient sums (``step`` = 0) in the layout of
        ``params``: W[l] (rows ``W.ld`` apart; rows ``j0:j1`` are written) and b[l]
        from ``b_off`` in the same buffer.
    pack : ndarray, 1-D
        The calling thread's scratch for ``gemm``.
    """
    delta, d_off, n_out = D
    out = W.data
    # D[l]^T is read in place: its element (j, s) is delta[d_off + s*n_out + j].
    update = step > 0
    gemm(j1 - j0, A.ld, m, -step if update else 1.0, Matrix(delta, d_off + j0, 1, n_out), A,
         Rows(out, W.offset + j0 * W.ld, W.ld), update, pack)
    bias_rows(D, m, out, b_off, j0, j1, step, pack)


# Neurons whose BP3 sums run together: a block of D's row and the sums stay in L1.
BIAS_BLOCK = 256


@jit(inline=True)
def bias_rows(D, m, out, b_off, j0, j1, step, sums):
    """BP3 for neurons ``j0:j1``: the column sums of D[l] (``D`` as in ``gradient_rows``)
    written to ``out[b_off + j]`` or, with ``step`` > 0, applied as ``-= step * sums``;
    ``sums``: scratch of at least BIAS_BLOCK elements of out's dtype (used then).

    Each sum runs over the samples in order, as in the equation, but a row of D at a
    time, BIAS_BLOCK neurons wide: a column at a time is a chain of dependent scalar
    adds over strided loads (L: 64 against 2 us for 256 neurons of a batch of 128)."""
    delta, d_off, n_out = D
    update = step > 0
    scale = out.dtype.type(step)
    for c0 in range(j0, j1, BIAS_BLOCK):
        n = min(BIAS_BLOCK, j1 - c0)
        db = sums[:n] if update else out[b_off + c0:b_off + c0 + n]
        for j in range(n):
            db[j] = 0
        for s in range(m):
            row = delta[d_off + s * n_out + c0:][:n]
            for j in range(n):
                db[j] += row[j]
        if update:
            for j in range(n):
                out[b_off + c0 + j] -= scale * db[j]
