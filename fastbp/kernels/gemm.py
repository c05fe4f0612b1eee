"""The two matrix products every pass is made of, on flat arrays with strides.

``gemm`` (C (+)= A B, "axpy" form: the output's contiguous axis is the vector axis)

    BP2       D[l]     = D[l+1] W[l+1]   B = W[l+1], read along its rows as stored
    BP4       dC/dW[l] = D[l]^T A[l-1]   A = D[l] read transposed (a_rs = 1), B = A[l-1]

B is read along its rows a vector at a time and A one element at a time (broadcast),
so any strides of A do. Columns are covered by 2-vector tiles (the last one masked),
rows by blocks of 6 and then single rows; k, rows and columns are blocked
for the caches, and blocks whose rows would collide in cache sets are first copied
into the thread's scratch.

``gemm_nt`` (Z = A W^T + b, dot-product form)

    forward   Z[l]     = A[l-1] W[l]^T + b[l]

Here both factors run along their contiguous axis, so the products accumulate in
vector lanes and are summed at the end; W needs no transposed copy.

In both, every element is a fixed chain of operations (see ``simd``), so the result
does not depend on the sizes of the blocks or on how rows are shared among threads.

Both are compiled once per dtype as C functions (see ``linked``): ``gemm`` and
``gemm_nt`` only pass their operands on, so the kernels that call them do not compile
the tiles again.
"""

import numba
from numba import types
from numba.types import intp

from .._config import jit
from .simd import DOT, MAX_ROWS, axpy_tile, dot_tile, vector_lanes

# Block sizes (float32): a KC x 16 panel of B is 16 KiB (L1), a KC x NC block of B
# 512 KiB (L2), an MC x KC block of A 48 KiB. A block of A is copied again for every
# block of B, so a wider NC copies less (NC 256 -> 1024 measured 48 -> 60 GFLOP/s on
# XL's BP4); 512 still fits the L2 of AVX2-era cores.
KC = 256
NC = 512
MC = 48
ROWS = MAX_ROWS
PACK_SIZE = KC * (NC + MC)  # scratch elements one thread needs for gemm
CONFLICT_STRIDE = 512  # bytes; see gemm


@jit(inline=True)
def copy(src, out, n):
    """out[:n] = src[:n] for views ``src`` and ``out`` (``a[start:]``): a loop, not a
    slice copy (no shape check to compile), and over views, not indices into the whole
    arrays (``a[start + j]``: a loop LLVM did not vectorise, 7-8x slower)."""
    for j in range(n):
        out[j] = src[j]


@jit(inline=True)
def _pack_b(b, b_off, ldb, kc, q0, q1, panel, packed):
    """Copy B[:kc, q0:q1] into ``packed`` panel by panel: each ``panel``-wide slice of
    columns becomes kc contiguous rows of ``panel`` elements."""
    for q in range(q0, q1, panel):
        width = min(panel, q1 - q)
        dst = (q - q0) * kc
        for p in range(kc):
            copy(b[b_off + p * ldb + q:], packed[dst + p * panel:], width)


@jit(inline=True)
def _pack_a(a, a_off, a_rs, a_cs, rows, kc, alpha, packed):
    """Copy ``alpha`` A[:rows, :kc] into ``packed`` as blocks of ROWS rows, each stored
    p-major (element (r, p) of a block at p * ROWS + r), so the tile reads it in order."""
    for i in range(0, rows, ROWS):
        n_r = min(ROWS, rows - i)
        block = packed[i * kc:]
        for p in range(kc):
            out = block[p * ROWS:]  # views, as in ``copy`` (and not assigned as a
            column = a[a_off + i * a_rs + p * a_cs:]  # tuple: that ran 2x slower)
            for r in range(n_r):
                # (bfloat16 pairs are copied with alpha 1: as float64, then back, exactly)
                out[r] = alpha * column[r * a_rs]


def _gemm(m, n, k, alpha, A, B, C, accumulate, pack):
    """C (+)= alpha A B for an (m x k) A and a (k x n) B; a serial worker.

    Parameters
    ----------
    m, n, k : int
        Rows of C, columns of C, length of the sums.
    alpha : float
        Scales A (as it is copied into scratch: A is then always copied); 1 for none.
    A : Matrix
        A[i, p] = ``A.data[A.offset + i*A.rs + p*A.cs]``.
    B, C : Rows
        B[p, q] = ``B.data[B.offset + p*B.ld + q]``, and C likewise; all three of one
        dtype.
    accumulate : bool
        Add to C (C's values start each chain) instead of overwriting it.
    pack : ndarray, 1-D
        Scratch of at least ``PACK_SIZE`` elements, private to the calling thread.
    """
    a, a_off, a_rs, a_cs = A
    b, b_off, ldb = B
    c, c_off, ldc = C
    lanes = vector_lanes(c)
    panel = 2 * lanes
    # Blocks of B (and of A when it is read across rows) are copied into contiguous
    # scratch when their rows lie a multiple of 512 bytes apart: such rows fall into a
    # few cache sets and evict each other. Only worth it when a block is reused enough.
    item = c.itemsize
    pack_b = m > 2 * ROWS and (ldb * item) % CONFLICT_STRIDE == 0
    scaled = alpha != 1
    pack_a = scaled or (n > 2 * panel and a_cs != 1 and (a_cs * item) % CONFLICT_STRIDE == 0)
    alpha = c.dtype.type(alpha)
    packed_b = pack[:KC * NC]
    packed_a = pack[KC * NC:PACK_SIZE]
    # Cache blocking: a KC x NC block of B stays in L2 while MC x KC blocks of A pass
    # over it; each MC x KC block of A stays in L1/L2 while the panels of B pass over it.
    for k0 in range(0, k, KC):
        kc = min(KC, k - k0)
        acc = accumulate or k0 > 0
        for q0 in range(0, n, NC):
            q1 = min(q0 + NC, n)
            if pack_b:
                _pack_b(b, b_off + k0 * ldb, ldb, kc, q0, q1, panel, packed_b)
            for i0 in range(0, m, MC):
                i1 = min(i0 + MC, m)
                if pack_a:
                    _pack_a(a, a_off + i0 * a_rs + k0 * a_cs, a_rs, a_cs, i1 - i0, kc, alpha,
                            packed_a)
                for q in range(q0, q1, panel):
                    width = min(panel, q1 - q)
                    i = i0
                    while i < i1:
                        rows = ROWS if i1 - i >= ROWS else 1
                        c_ij = c_off + i * ldc + q
                        if pack_a:  # row r of the packed block that starts at row i_b
                            i_b = i0 + (i - i0) // ROWS * ROWS
                            x, x_off, x_rs, x_cs = packed_a, (i_b - i0) * kc + i - i_b, 1, ROWS
                        else:
                            x, x_off, x_rs, x_cs = a, a_off + i * a_rs + k0 * a_cs, a_rs, a_cs
                        if pack_b:
                            y, y_off, y_ld = packed_b, (q - q0) * kc, panel
                        else:
                            y, y_off, y_ld = b, b_off + k0 * ldb + q, ldb
                        # one call site: the tile expands to code for every shape
                        axpy_tile(rows, width, c, c_ij, ldc, x, x_off, x_rs, x_cs,
                                  y, y_off, y_ld, kc, acc)
                        i += rows


# Z = A W^T + b in dot-product form, for the forward pass: both factors are read along
# their rows, so W needs no transposed copy and a few samples cost no repacking.
KC_NT = 1024
MC_NT = 16 * DOT  # samples of a block (64 for 4 x 4 tiles)


def _gemm_nt(m, n, k, A, W, bias, b_off, Z):
    """Z = A W^T + b for an (m x k) A, an (n x k) W and n biases; a serial worker.

    ``A``, ``W``, ``Z`` are ``Rows``, b[j] = ``bias[b_off + j]``.
    """
    a, a_off, lda = A
    w, w_off, ldw = W
    z, z_off, ldz = Z
    # k in slices of KC_NT, so that DOT rows of A and of W (4 x 4 KiB each) stay in L1
    # (1024 measured 73-80 -> 87-88 GFLOP/s on XL against 4096; 512 and less were
    # slower): each slice's dot product is added to Z in slice order. Samples in blocks
    # of MC_NT (256 KiB of A), which stay in L2 while every row of W passes over them
    # once, so that W and A stream from L3 once per block rather than A once per DOT
    # rows of W.
    for k0 in range(0, k, KC_NT):
        kc = min(KC_NT, k - k0)
        for i0 in range(0, m, MC_NT):
            i1 = min(i0 + MC_NT, m)
            j = 0
            while j < n:  # DOT rows of W stay in L1 while the block's samples pass
                cols = DOT if n - j >= DOT else 1
                i = i0
                while i < i1:
                    rows = DOT if i1 - i >= DOT else 1
                    dot_tile(rows, cols, z, z_off + i * ldz + j, ldz, a, a_off + i * lda + k0,
                             lda, w, w_off + j * ldw + k0, ldw, kc, bias, b_off + j, k0 > 0)
                    i += rows
                j += cols


# -- compiled once per dtype (see ``linked``), called from the kernels --------------------

def _matrix(dtype):
    array = types.Array(dtype, 1, "C")
    return array, types.Tuple((array, intp, intp, intp)), types.Tuple((array, intp, intp))


def _signatures(kernel):
    """{dtype: signature} of ``_gemm`` or ``_gemm_nt``; Matrix and Rows as plain tuples.
    "bf16": A and B (``gemm``), A and W (``gemm_nt``) of bfloat16 pairs (uint32 words,
    see ``simd``), the rest float32, k counting pairs (``gemm``'s scratch is of words)."""
    found = {}
    for dtype in (types.float32, types.float64):
        array, matrix, rows = _matrix(dtype)
        if kernel == "gemm":
            found[str(dtype)] = types.void(intp, intp, intp, types.float64, matrix, rows, rows,
                                           types.boolean, array)
        else:
            found[str(dtype)] = types.void(intp, intp, intp, rows, rows, array, intp, rows)
    words, pairs, pair_rows = _matrix(types.uint32)
    array, _, rows = _matrix(types.float32)
    if kernel == "gemm":
        found["bf16"] = types.void(intp, intp, intp, types.float64, pairs, pair_rows, rows,
                                   types.boolean, words)
    else:
        found["bf16"] = types.void(intp, intp, intp, pair_rows, pair_rows, array, intp, rows)
    return found


if numba.config.DISABLE_JIT:  # plain Python: the bodies themselves
    gemm, gemm_nt = _gemm, _gemm_nt
else:
    from .linked import compile_once

    _gemm_c = compile_once("gemm", _gemm, _signatures("gemm"))
    _gemm_nt_c = compile_once("gemm_nt", _gemm_nt, _signatures("gemm_nt"))

    @jit
    def gemm(m, n, k, alpha, A, B, C, accumulate, pack):
        """C (+)= alpha A B: ``_gemm``, compiled once."""
        _gemm_c((m, n, k, alpha, A, B, C, accumulate, pack))

    @jit
    def gemm_nt(m, n, k, A, W, bias, b_off, Z):
        """Z = A W^T + b: ``_gemm_nt``, compiled once."""
        _gemm_nt_c((m, n, k, A, W, bias, b_off, Z))
