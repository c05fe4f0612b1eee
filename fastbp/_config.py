"""Compilation policy for every kernel, decided in one place.

Kernels are compiled at module level with ``jit`` (serial) or ``jit(parallel=True)``.
No kernel spells out its own flags.
"""

from numba import njit

# No ``reassoc`` and no ``contract``: each output element is then computed by the
# same sequence of roundings whichever thread, vector lane or loop remainder
# computes it, which is what makes results bit-identical across thread counts.
# Fused multiply-adds are requested explicitly where a kernel wants them.
# ``nnan``/``ninf`` stay off so that non-finite values can still be detected.
FASTMATH = frozenset({"nsz", "arcp"})

JIT_OPTIONS = {
    "cache": True,
    "nogil": True,
    "fastmath": set(FASTMATH),
    # NumPy's error model: no ZeroDivisionError branches in hot loops.
    "error_model": "numpy",
}


def jit(function=None, *, parallel=False):
    """Compile ``function`` with the project's options (``@jit`` or ``@jit(parallel=True)``)."""
    options = dict(JIT_OPTIONS, parallel=parallel)
    if function is None:
        return njit(**options)
    return njit(**options)(function)
