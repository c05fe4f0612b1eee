"""Training in a process made by fork() from one that had already trained.

Numba's ``omp`` threading layer runs on GNU OpenMP, whose worker threads do not survive
fork(): Numba kills a forked child at its first parallel kernel ("Terminating: fork()
called from a process already using GNU OpenMP") rather than let it hang. Forking after
training is common: multiprocessing's "fork" start method (the default on Linux before
Python 3.14), and with it joblib's multiprocessing backend (scikit-learn's ``n_jobs``).

GNU OpenMP can still run a parallel region of one thread in such a child: that needs no
worker thread. So in a child forked after GNU OpenMP started (seen by
``os.register_at_fork``), fastbp tells Numba's OpenMP layer that the child is a process
of its own (its launch function records the calling process) and runs every kernel on
one thread, with a warning the first time. The results are the same bits, since they do
not depend on the number of threads. Processes started by "spawn" or "forkserver", and
Numba's ``tbb`` and ``workqueue`` layers, which are fork-safe, are not affected.
"""

import ctypes
import os
import warnings

import numba

_one_thread = False  # True in a child forked after GNU OpenMP had started
_warned = False


def _gnu_openmp_started():
    try:
        layer = numba.threading_layer()
    except ValueError:  # no parallel kernel has run: the child starts its own threads
        return False
    if layer != "omp":
        return False
    from numba.np.ufunc import omppool

    return omppool.openmp_vendor == "GNU"


def _after_fork_in_child():
    global _one_thread, _warned
    if not _gnu_openmp_started():
        return
    from numba.np.ufunc import omppool

    # launch_threads records the calling process as the one that owns OpenMP; with 1
    # it also makes one thread the default of threads that never chose a number.
    ctypes.CFUNCTYPE(None, ctypes.c_int)(omppool.launch_threads)(1)
    numba.set_num_threads(1)  # this thread's own setting, inherited from the parent
    _one_thread, _warned = True, False


def allowed_threads(threads):
    """``threads``, or 1 in a child forked after GNU OpenMP had started (with a warning
    the first time)."""
    global _warned
    if not _one_thread:
        return threads
    if not _warned:
        _warned = True
        warnings.warn("fastbp: this process was forked (fork()) from one that had already "
                      "run GNU OpenMP threads, which do not survive fork(), so its kernels "
                      "run on one thread (with the same results). Start worker processes "
                      "with the 'spawn' or 'forkserver' method to use every core.",
                      RuntimeWarning, stacklevel=4)
    return 1


if hasattr(os, "register_at_fork"):  # POSIX
    os.register_at_fork(after_in_child=_after_fork_in_child)
