"""C (+)= A B on flat arrays with strides: the one matrix product every pass is made of.

    forward  Z[l]    = A[l-1] W[l]^T   A rows: samples, B = W[l]^T (kept as a copy)
    BP2      D[l]    = D[l+1] W[l+1]   B = W[l+1], row-major as stored
    BP4      dC/dW[l] = D[l]^T A[l-1]   A = D[l] read transposed (a_rs = 1), B = A[l-1]

B is always read along its rows, so the output's contiguous axis is the vector axis
and no packing is needed; A is read one element at a time (broadcast), so any strides
do. Columns are covered by 2-vector tiles, then a full and a masked 1-vector tile;
rows by blocks of 6, then one smaller block. All compute the same chain of fused
multiply-adds per element (see ``simd``), so the result does not depend on the sizes
of the blocks or on how rows are shared among threads.
"""

from .._config import jit
from .simd import microkernel, vector_lanes

# k is processed in slices of KC so that a slice of B's 2-vector column panel
# (KC x 16 float32, 16 KiB) stays in the L1 cache while it is swept by all row blocks.
KC = 256
ROWS = 6

_full2 = tuple(microkernel(r, 2) for r in range(1, ROWS + 1))
_full1 = tuple(microkernel(r, 1) for r in range(1, ROWS + 1))
_part1 = tuple(microkernel(r, 1, masked=True) for r in range(1, ROWS + 1))
# Numba cannot index a tuple of intrinsics at run time: one name per kernel.
_f2_1, _f2_2, _f2_3, _f2_4, _f2_5, _f2_6 = _full2
_f1_1, _f1_2, _f1_3, _f1_4, _f1_5, _f1_6 = _full1
_p1_1, _p1_2, _p1_3, _p1_4, _p1_5, _p1_6 = _part1


@jit
def _tile(rows, width, lanes, c, c_off, ldc, a, a_off, a_rs, a_cs, b, b_off, ldb, kc, acc):
    """C[:rows, :width] (+)= A[:rows, :kc] B[:kc, :width] for rows <= 6, width <= 2 lanes."""
    if width == 2 * lanes:
        if rows == 6:
            _f2_6(c, c_off, ldc, a, a_off, a_rs, a_cs, b, b_off, ldb, kc, acc, width)
        elif rows == 5:
            _f2_5(c, c_off, ldc, a, a_off, a_rs, a_cs, b, b_off, ldb, kc, acc, width)
        elif rows == 4:
            _f2_4(c, c_off, ldc, a, a_off, a_rs, a_cs, b, b_off, ldb, kc, acc, width)
        elif rows == 3:
            _f2_3(c, c_off, ldc, a, a_off, a_rs, a_cs, b, b_off, ldb, kc, acc, width)
        elif rows == 2:
            _f2_2(c, c_off, ldc, a, a_off, a_rs, a_cs, b, b_off, ldb, kc, acc, width)
        else:
            _f2_1(c, c_off, ldc, a, a_off, a_rs, a_cs, b, b_off, ldb, kc, acc, width)
    elif width == lanes:
        if rows == 6:
            _f1_6(c, c_off, ldc, a, a_off, a_rs, a_cs, b, b_off, ldb, kc, acc, width)
        elif rows == 5:
            _f1_5(c, c_off, ldc, a, a_off, a_rs, a_cs, b, b_off, ldb, kc, acc, width)
        elif rows == 4:
            _f1_4(c, c_off, ldc, a, a_off, a_rs, a_cs, b, b_off, ldb, kc, acc, width)
        elif rows == 3:
            _f1_3(c, c_off, ldc, a, a_off, a_rs, a_cs, b, b_off, ldb, kc, acc, width)
        elif rows == 2:
            _f1_2(c, c_off, ldc, a, a_off, a_rs, a_cs, b, b_off, ldb, kc, acc, width)
        else:
            _f1_1(c, c_off, ldc, a, a_off, a_rs, a_cs, b, b_off, ldb, kc, acc, width)
    elif width > lanes:  # a full vector, then a partial one
        _tile(rows, lanes, lanes, c, c_off, ldc, a, a_off, a_rs, a_cs, b, b_off, ldb, kc, acc)
        _tile(rows, width - lanes, lanes, c, c_off + lanes, ldc, a, a_off, a_rs, a_cs, b,
              b_off + lanes, ldb, kc, acc)
    elif rows == 6:
        _p1_6(c, c_off, ldc, a, a_off, a_rs, a_cs, b, b_off, ldb, kc, acc, width)
    elif rows == 5:
        _p1_5(c, c_off, ldc, a, a_off, a_rs, a_cs, b, b_off, ldb, kc, acc, width)
    elif rows == 4:
        _p1_4(c, c_off, ldc, a, a_off, a_rs, a_cs, b, b_off, ldb, kc, acc, width)
    elif rows == 3:
        _p1_3(c, c_off, ldc, a, a_off, a_rs, a_cs, b, b_off, ldb, kc, acc, width)
    elif rows == 2:
        _p1_2(c, c_off, ldc, a, a_off, a_rs, a_cs, b, b_off, ldb, kc, acc, width)
    else:
        _p1_1(c, c_off, ldc, a, a_off, a_rs, a_cs, b, b_off, ldb, kc, acc, width)


@jit
def gemm(m, n, k, a, a_off, a_rs, a_cs, b, b_off, ldb, c, c_off, ldc, accumulate):
    """C (+)= A B for an (m x k) A and a (k x n) B; a serial worker.

    Parameters
    ----------
    m, n, k : int
        Rows of C, columns of C, length of the sums.
    a, b, c : ndarray, 1-D
        Flat buffers of one dtype. A[i, p] = ``a[a_off + i*a_rs + p*a_cs]``,
        B[p, q] = ``b[b_off + p*ldb + q]``, C[i, q] = ``c[c_off + i*ldc + q]``.
    accumulate : bool
        Add to C (C's values start each chain) instead of overwriting it.
    """
    lanes = vector_lanes(c)
    panel = 2 * lanes
    for k0 in range(0, k, KC):
        kc = min(KC, k - k0)
        acc = accumulate or k0 > 0
        for q in range(0, n, panel):
            width = min(panel, n - q)
            for i in range(0, m, ROWS):
                _tile(min(ROWS, m - i), width, lanes, c, c_off + i * ldc + q, ldc,
                      a, a_off + i * a_rs + k0 * a_cs, a_rs, a_cs, b, b_off + k0 * ldb + q, ldb,
                      kc, acc)
