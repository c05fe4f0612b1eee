"""Compilation policy for every kernel, decided in one place.

Kernels are compiled at module level with ``jit`` (serial) or ``jit(parallel=True)``.
No kernel spells out its own flags.
"""

import hashlib
from pathlib import Path

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


def _drop_stale_cache():
    """Numba keys each cached function on its own file only: a kernel whose callee in
    another file changed would load machine code with the old callee inlined. So the
    cache of the whole package is dropped whenever any kernel source (or this file)
    changes (after an edit; an installed release never changes its files)."""
    package = Path(__file__).resolve().parent
    # Only compiled code matters: the kernels and this file's options.
    sources = sorted((package / "kernels").rglob("*.py")) + [Path(__file__).resolve()]
    digest = hashlib.sha256(b"".join(p.read_bytes() for p in sources)).hexdigest()
    marker = package / "__pycache__" / "fastbp-sources.sha256"
    try:
        if marker.exists() and marker.read_text() == digest:
            return
        for cached in list(package.rglob("*.nbi")) + list(package.rglob("*.nbc")):
            cached.unlink(missing_ok=True)
        marker.parent.mkdir(exist_ok=True)
        marker.write_text(digest)
    except OSError:  # a read-only installation: Numba caches elsewhere, or not at all
        pass


_drop_stale_cache()
