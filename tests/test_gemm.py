"""The two matrix-product workers against NumPy, through every tiling path.

``gemm`` covers columns with 2-vector tiles, the last one masked, rows with blocks of 6
and then single rows, k with slices of KC, in blocks of MC rows and NC columns, and
copies blocks of B (of A) into scratch when their rows (columns) lie a multiple of 512
bytes apart; ``gemm_nt`` covers rows and columns with blocks of DOT and single ones, k
with full vectors and one masked partial vector. The sizes below hit every combination
for float32 (8 lanes) and float64 (4 lanes).
"""

import numpy as np
import pytest

from fastbp.kernels.gemm import KC, KC_NT, MC, MC_NT, NC, PACK_SIZE, gemm, gemm_nt
from fastbp.kernels.structures import Matrix, Rows

TOLERANCE = {np.float64: 1e-13, np.float32: 1e-5}
ROW_COUNTS = [1, 2, 3, 4, 5, 6, 7, 13]
COL_COUNTS = [1, 3, 4, 7, 8, 9, 12, 15, 16, 17, 24, 31, 33, 40]


def scratch(dtype):
    return np.empty(PACK_SIZE, dtype)


def check(actual, expected, dtype, magnitude):
    """Errors relative to the sum of the magnitudes of the products (``|A| |B|``), the
    scale of rounding errors in a sum whose terms may cancel."""
    assert np.abs(actual - expected).max() / (magnitude.max() + 1e-30) <= TOLERANCE[dtype]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("m", ROW_COUNTS)
def test_gemm_every_tile_shape(rng, dtype, m):
    for n in COL_COUNTS:
        for k in (1, 5, KC + 3):
            A = rng.standard_normal((m, k)).astype(dtype)
            B = rng.standard_normal((k, n)).astype(dtype)
            C = np.full((m, n), np.nan, dtype)
            gemm(m, n, k, 1.0, Matrix(A.ravel(), 0, k, 1), Rows(B.ravel(), 0, n),
                 Rows(C.ravel(), 0, n), False, scratch(dtype))
            check(C, A.astype(np.float64) @ B, dtype, np.abs(A) @ np.abs(B))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n_extra", [21, 128])      # rows of B 512 bytes apart: packed
@pytest.mark.parametrize("transposed", [False, True])  # A read down columns 1 KiB apart
def test_gemm_cache_blocks_and_packing(rng, dtype, n_extra, transposed):
    """Several MC, NC and KC blocks, each with a partial last block, with and without
    copying blocks of A and B into scratch; one row alone (nothing packed) gives the
    same bits as that row of the whole product."""
    m, n, k = 2 * MC + 10, 2 * NC + n_extra, 2 * KC + 5  # last block: 6 rows + 4 single
    A = rng.standard_normal((m, k)).astype(dtype)
    B = rng.standard_normal((k, n)).astype(dtype)
    C = np.empty((m, n), dtype)
    if transposed:
        lda = 1024 // A.itemsize
        At = np.zeros((k, lda), dtype)
        At[:, :m] = A.T
        gemm(m, n, k, 1.0, Matrix(At.ravel(), 0, 1, lda), Rows(B.ravel(), 0, n),
             Rows(C.ravel(), 0, n), False, scratch(dtype))
    else:
        gemm(m, n, k, 1.0, Matrix(A.ravel(), 0, k, 1), Rows(B.ravel(), 0, n),
             Rows(C.ravel(), 0, n), False, scratch(dtype))
    check(C, A.astype(np.float64) @ B, dtype, np.abs(A) @ np.abs(B))
    row = np.empty(n, dtype)
    gemm(1, n, k, 1.0, Matrix(A[m - 1], 0, k, 1), Rows(B.ravel(), 0, n), Rows(row, 0, n), False,
         scratch(dtype))
    np.testing.assert_array_equal(row, C[m - 1])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("m", [1, 7, 13])
def test_gemm_alpha_accumulates_a_scaled_product(rng, dtype, m):
    """C += alpha A B, as the fused SGD update W -= (eta/m) D^T A uses it."""
    n, k = 37, 19
    A = rng.standard_normal((m, k)).astype(dtype)
    B = rng.standard_normal((k, n)).astype(dtype)
    C = rng.standard_normal((m, n)).astype(dtype)
    expected = C.astype(np.float64) - 0.25 * (A.astype(np.float64) @ B)
    gemm(m, n, k, -0.25, Matrix(A.ravel(), 0, k, 1), Rows(B.ravel(), 0, n),
         Rows(C.ravel(), 0, n), True, scratch(dtype))
    check(C, expected, dtype, np.abs(C) + 0.25 * np.abs(A) @ np.abs(B))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_gemm_strides_offsets_and_accumulate(rng, dtype):
    """A read transposed from inside a bigger buffer, C a block of a wider matrix, +=."""
    m, n, k = 11, 19, 300
    big_a = rng.standard_normal(5 + k * (m + 4)).astype(dtype)
    A = big_a[5:5 + k * (m + 4)].reshape(k, m + 4)[:, :m].T  # A[i, p] at 5 + p*(m+4) + i
    B = rng.standard_normal((k, n + 3)).astype(dtype)
    C = rng.standard_normal((m, n + 6)).astype(dtype)
    expected = C.astype(np.float64).copy()
    expected[:, 2:2 + n] += A.astype(np.float64) @ B[:, 1:1 + n]
    gemm(m, n, k, 1.0, Matrix(big_a, 5, 1, m + 4), Rows(B.ravel(), 1, n + 3),
         Rows(C.ravel(), 2, n + 6), True, scratch(dtype))
    check(C, expected, dtype, np.abs(A) @ np.abs(B[:, 1:1 + n]))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("m", [1, 2, 3, 4, 5, 7])
def test_gemm_nt_every_tile_shape(rng, dtype, m):
    for n in (1, 2, 3, 4, 5, 10, 31):
        for k in (1, 3, 4, 7, 8, 9, 17, 100, 784):
            A = rng.standard_normal((m, k)).astype(dtype)
            W = rng.standard_normal((n, k)).astype(dtype)
            b = rng.standard_normal(n).astype(dtype)
            Z = np.full((m, n), np.nan, dtype)
            gemm_nt(m, n, k, Rows(A.ravel(), 0, k), Rows(W.ravel(), 0, k), b, 0,
                    Rows(Z.ravel(), 0, n))
            check(Z, A.astype(np.float64) @ W.T + b, dtype, np.abs(A) @ np.abs(W.T) + np.abs(b))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_gemm_nt_blocks_of_samples_and_slices_of_k(rng, dtype):
    """More samples than a block (MC_NT) and a k longer than a slice (KC_NT): the
    reference, and each row as computed alone."""
    m, n, k = 2 * MC_NT + 3, 9, KC_NT + 37
    A = rng.standard_normal((m, k)).astype(dtype)
    W = rng.standard_normal((n, k)).astype(dtype)
    b = rng.standard_normal(n).astype(dtype)
    Z = np.full((m, n), np.nan, dtype)
    gemm_nt(m, n, k, Rows(A.ravel(), 0, k), Rows(W.ravel(), 0, k), b, 0, Rows(Z.ravel(), 0, n))
    check(Z, A.astype(np.float64) @ W.T + b, dtype, np.abs(A) @ np.abs(W.T) + np.abs(b))
    for i in (0, MC_NT - 1, MC_NT, m - 1):
        row = np.empty(n, dtype)
        gemm_nt(1, n, k, Rows(A[i], 0, k), Rows(W.ravel(), 0, k), b, 0, Rows(row, 0, n))
        np.testing.assert_array_equal(row, Z[i])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_every_element_is_computed_the_same_in_every_block(rng, dtype):
    """A row's result does not depend on the block it falls in: the rows of a product
    equal the same rows computed alone, and a column block equals the whole product's."""
    m, n, k = 13, 37, 301
    A = rng.standard_normal((m, k)).astype(dtype)
    B = rng.standard_normal((k, n)).astype(dtype)
    W = np.ascontiguousarray(B.T)
    b = rng.standard_normal(n).astype(dtype)
    C = np.empty((m, n), dtype)
    Z = np.empty((m, n), dtype)
    gemm(m, n, k, 1.0, Matrix(A.ravel(), 0, k, 1), Rows(B.ravel(), 0, n), Rows(C.ravel(), 0, n),
         False, scratch(dtype))
    gemm_nt(m, n, k, Rows(A.ravel(), 0, k), Rows(W.ravel(), 0, k), b, 0, Rows(Z.ravel(), 0, n))
    for i in range(m):
        row = np.empty((1, n), dtype)
        gemm(1, n, k, 1.0, Matrix(A[i], 0, k, 1), Rows(B.ravel(), 0, n), Rows(row.ravel(), 0, n),
             False, scratch(dtype))
        np.testing.assert_array_equal(row[0], C[i])
        gemm_nt(1, n, k, Rows(A[i], 0, k), Rows(W.ravel(), 0, k), b, 0, Rows(row.ravel(), 0, n))
        np.testing.assert_array_equal(row[0], Z[i])
    cols = np.empty((m, 5), dtype)
    gemm(m, 5, k, 1.0, Matrix(A.ravel(), 0, k, 1), Rows(B.ravel(), 17, n),
         Rows(cols.ravel(), 0, 5), False, scratch(dtype))
    np.testing.assert_array_equal(cols, C[:, 17:22])
    gemm_nt(m, 5, k, Rows(A.ravel(), 0, k), Rows(W.ravel(), 17 * k, k), b, 17,
            Rows(cols.ravel(), 0, 5))
    np.testing.assert_array_equal(cols, Z[:, 17:22])
