"""Input checks that run at memory speed: no temporary arrays, all threads."""

import math

import numpy as np

from numba import prange

from .._config import jit


@jit(parallel=True)
def finite_max_abs(x):
    """max |x[i, j]| of a 2-D array, or infinity if any element is NaN or infinite: the
    finiteness check of the inputs and the bound the divergence guard needs, in one
    pass (one number per row of scratch)."""
    row_max = np.zeros(x.shape[0], dtype=x.dtype)
    bad = 0
    for i in prange(x.shape[0]):
        row_bad = 0
        m = x.dtype.type(0)
        for j in range(x.shape[1]):
            v = abs(x[i, j])
            row_bad += not math.isfinite(v)
            m = v if v > m else m
        row_max[i] = m
        bad += row_bad
    if bad:
        return np.inf
    return float(row_max.max()) if x.shape[0] else 0.0


@jit(parallel=True)
def max_abs_flat(x):
    """max |x| of a 1-D array, NaN counted as infinity, in blocks of 4096 on all threads."""
    n_blocks = -(-x.shape[0] // 4096)
    block_max = np.zeros(n_blocks)
    for b in prange(n_blocks):
        m = 0.0
        for i in range(b * 4096, min((b + 1) * 4096, x.shape[0])):
            v = abs(np.float64(x[i]))
            if not v <= m:
                m = v if v == v else np.inf
        block_max[b] = m
    return block_max.max() if n_blocks else 0.0

