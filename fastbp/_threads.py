"""How many threads kernels use, changed only inside a context that restores it; and
kernel calls from several Python threads made safe whatever Numba's threading layer.

Numba's ``omp`` and ``tbb`` layers accept parallel kernels called from several Python
threads at once. Its ``workqueue`` layer, the fallback on a machine without libgomp or
TBB, aborts the whole process when that happens ("Concurrent access has been
detected"). So every kernel call goes through :func:`using_threads` (or
:func:`serialised`), which, under ``workqueue``, holds one process-wide lock: kernels
then run one after the other, and each still gives the bits it gives alone.
"""

import threading
from contextlib import contextmanager, nullcontext

import numba

from . import _fork

# Held around parallel kernel calls when the threading layer cannot run two at once.
# Reentrant, so that a locked region may call another (e.g. a check of its input).
_KERNEL_LOCK = threading.RLock()


def max_threads():
    """The most threads Numba can use here (``NUMBA_NUM_THREADS``, all cores by default)."""
    return numba.config.NUMBA_NUM_THREADS


def check_threads(threads, name="threads"):
    # Imported here: _validation imports this module for ``serialised``.
    from ._validation import check_int

    if threads is None:
        return max_threads()
    return check_int(threads, name, minimum=1, maximum=max_threads())


def threading_layer():
    """The name of Numba's threading layer (``"omp"``, ``"tbb"`` or ``"workqueue"``), or
    None while it is not chosen yet (Numba chooses it when it first starts its threads)."""
    try:
        return numba.threading_layer()
    except ValueError:  # "Threading layer is not initialized."
        return None


def must_serialise():
    """Whether parallel kernels must not run in two Python threads at once: under the
    ``workqueue`` layer, and, conservatively, while the layer is not known."""
    layer = threading_layer()
    return layer is None or layer == "workqueue"


@contextmanager
def serialised():
    """Run the enclosed kernel calls while holding the process-wide kernel lock if the
    threading layer needs it (see :func:`must_serialise`); otherwise do nothing."""
    # numba.get_num_threads() starts Numba's threads if they are not yet running, and
    # with them chooses the threading layer, so that the decision below is informed.
    numba.get_num_threads()
    with _KERNEL_LOCK if must_serialise() else nullcontext():
        yield


@contextmanager
def using_threads(threads):
    """Run the enclosed kernels on ``threads`` threads (Numba's setting is per Python
    thread), serialised with other Python threads' kernels where the threading layer
    needs it (see :func:`serialised`); one thread in a process forked after OpenMP
    had started (see ``_fork``)."""
    with serialised():
        previous = numba.get_num_threads()
        numba.set_num_threads(_fork.allowed_threads(threads))
        try:
            yield
        finally:
            numba.set_num_threads(previous)
