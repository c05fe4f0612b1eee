"""Input checks that run at memory speed: no temporary arrays, all threads."""

import math

import numpy as np
from numba import prange
from numba.extending import overload

from .._config import jit


def _abs_bits32(x):
    return x.view(np.int32), np.int32(0x7FFFFFFF), np.int32(0x7F800000)


def _abs_bits64(x):
    return x.view(np.int64), np.int64(0x7FFFFFFFFFFFFFFF), np.int64(0x7FF0000000000000)


def _abs_bits(x):
    """(x's bits as integers, the mask that clears the sign, the bits of infinity)."""
    return _abs_bits32(x) if x.dtype.itemsize == 4 else _abs_bits64(x)


@overload(_abs_bits)
def _abs_bits_for(x):
    # An IEEE float without its sign bit orders like an integer, and NaN and infinity
    # are the integers from the bits of infinity up. Integer maxima vectorise; float
    # ones do not without fastmath's nnan, which stays off.
    return _abs_bits32 if x.dtype.bitwidth == 32 else _abs_bits64


@jit(parallel=True)
def finite_max_abs(x):
    """max |x[i, j]| of a C-contiguous 2-D float array, or infinity if any element is NaN
    or infinite: the finiteness check of the inputs and the bound the divergence guard
    needs, in one pass at memory speed (one float per row of scratch)."""
    row_max = np.zeros(x.shape[0])
    for i in prange(x.shape[0]):
        row_max[i] = max_abs_range(x[i], 0, x.shape[1], 0.0)
    top = 0.0
    for i in range(x.shape[0]):  # a loop, not row_max.max(): no nditer to compile
        top = max(top, row_max[i])
    return top


@jit(parallel=True)
def max_abs_flat(x):
    """max |x| of a 1-D array, NaN counted as infinity, in blocks of 4096 on all threads."""
    n_blocks = -(-x.shape[0] // 4096)
    block_max = np.zeros(n_blocks)
    for b in prange(0, n_blocks):  # not prange(n_blocks): see kernels.step
        block_max[b] = max_abs_range(x, b * 4096, min(4096, x.shape[0] - b * 4096), 0.0)
    return block_max.max() if n_blocks else 0.0


# The float of |x|'s bits ``top`` (finite), as a float64, exactly.
@jit(inline=True)
def _value32(top):
    e = top >> 23
    return math.ldexp(float((top & 0x7FFFFF) | (0x800000 if e else 0)), int(max(e, 1)) - 150)


@jit(inline=True)
def _value64(top):
    e = top >> 52
    return math.ldexp(float((top & 0xFFFFFFFFFFFFF) | (0x10000000000000 if e else 0)),
                      int(max(e, 1)) - 1075)


@jit
def max_abs_range(v, off, count, current):
    """max(current, |v[off:off + count]|) of a 1-D array, with NaN counted as infinity:
    a maximum of integers (see ``_abs_bits``), which vectorises."""
    bits, mask, inf_bits = _abs_bits(v)
    seg = bits[off:off + count]  # a slice: the loop vectorises
    top = 0
    for i in range(seg.shape[0]):
        top = max(top, seg[i] & mask)
    if top >= inf_bits:
        return np.inf
    return max(current, _value32(top) if v.itemsize == 4 else _value64(top))


@jit(parallel=True)
def csr_errors(indptr, indices, n_columns):
    """How many rows of a CSR matrix have ``indptr[r + 1] < indptr[r]`` or a column index
    outside [0, ``n_columns``): the checks that keep the kernels' reads in bounds, given
    ``0 <= indptr[0]`` and ``indptr[-1] <= len(indices)``."""
    bad = 0
    for r in prange(indptr.shape[0] - 1):
        lo, hi = indptr[r], indptr[r + 1]
        wrong = hi < lo
        for p in range(lo, hi):
            wrong = wrong or not 0 <= indices[p] < n_columns
        bad += 1 if wrong else 0
    return bad
