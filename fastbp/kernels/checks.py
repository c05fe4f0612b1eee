"""Input checks that run at memory speed: no temporary arrays, all threads."""

import math

from numba import prange

from .._config import jit


@jit(parallel=True)
def all_finite(x):
    """Whether every element of the 2-D array ``x`` is finite (no NaN, no infinity)."""
    bad = 0
    for i in prange(x.shape[0]):
        row_bad = 0
        for j in range(x.shape[1]):
            row_bad += not math.isfinite(x[i, j])
        bad += row_bad
    return bad == 0
