"""How many threads kernels use, changed only inside a context that restores it."""

from contextlib import contextmanager

import numba

from ._validation import check_int


def max_threads():
    """The most threads Numba can use here (``NUMBA_NUM_THREADS``, all cores by default)."""
    return numba.config.NUMBA_NUM_THREADS


def check_threads(threads, name="threads"):
    if threads is None:
        return max_threads()
    return check_int(threads, name, minimum=1, maximum=max_threads())


@contextmanager
def using_threads(threads):
    """Run the enclosed kernels on ``threads`` threads (Numba's setting is per Python thread)."""
    previous = numba.get_num_threads()
    numba.set_num_threads(threads)
    try:
        yield
    finally:
        numba.set_num_threads(previous)
