"""Compilation policy for every kernel, decided in one place.

Kernels are compiled at module level with ``jit`` (serial) or ``jit(parallel=True)``.
No kernel spells out its own flags.
"""

import contextlib
import functools
import hashlib
import os
import shutil
import sys
from pathlib import Path

import numba
from numba import njit
from numba.core import sigutils
from numba.core.caching import (
    CompileResultCacheImpl,
    FunctionCache,
    _CacheLocator,
    _SourceFileBackedLocatorMixin,
)
from numba.core.ccallback import CFunc

from . import tuning

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


def jit(function=None, *, parallel=False, inline=False):
    """Compile ``function`` with the project's options (``@jit`` or ``@jit(parallel=True)``).

    ``inline``: Numba inlines the function's code into its jitted callers before typing
    them, so that it is not compiled (and optimised and emitted) as a library of its own
    as well as inside each caller; for a dispatcher whose callees are heavy."""
    if function is None:
        return lambda function: jit(function, parallel=parallel, inline=inline)
    options = dict(JIT_OPTIONS, cache=False, parallel=parallel)
    if inline:
        options["inline"] = "always"
    with _kernel_locator():
        dispatcher = njit(**options)(function)
        # an inlined function is compiled inside its callers (cached with them), alone
        # only when Python calls it (tests): no cache of its own to set up at import
        if JIT_OPTIONS["cache"] and not numba.config.DISABLE_JIT and not inline:
            dispatcher._cache = KernelCache(function)  # what ``cache=True`` does, with ours
    return dispatcher


def compiled_options():
    """The options of ``jit`` that shape compiled code (fastmath, error model), for code
    compiled inside its callers or as a C function."""
    return {key: value for key, value in JIT_OPTIONS.items() if key not in ("cache", "nogil")}


def cfunc(signature):
    """Compile a function now as a C function of ``signature`` (``numba.cfunc``), with the
    options of ``jit`` and its on-disk cache; under ``NUMBA_DISABLE_JIT`` the function is
    returned as it is."""
    def decorate(function):
        if numba.config.DISABLE_JIT:
            return function
        with _kernel_locator():
            compiled = CFunc(function, sigutils.normalize_signature(signature), {},
                             compiled_options())
            if JIT_OPTIONS["cache"]:
                compiled._cache = KernelCache(function)
        compiled.compile()
        return compiled
    return decorate


@contextlib.contextmanager
def _kernel_locator():
    # Numba picks a function's cache locator when it is decorated, from this setting.
    previous = numba.config.CACHE_LOCATOR_CLASSES
    numba.config.CACHE_LOCATOR_CLASSES = f"{__name__}.KernelCacheLocator"
    try:
        yield
    finally:
        numba.config.CACHE_LOCATOR_CLASSES = previous


def _kernel_cache_dir():
    """Where Numba keeps the compiled kernels: under ``tuning.cache_dir()``, one
    directory per state of the kernel sources and per kernel variant, or None (no
    on-disk cache) where nothing can be written.

    Numba keys each cached function on its own file only, so a kernel whose callee in
    another file changed would load machine code with the old callee inlined, and it
    does not know the variant at all: both are in the path instead. The path does not
    depend on where the package is imported from, so a checkout and an installed copy
    of the same sources share their compiled kernels."""
    root = tuning.cache_dir()
    if root is None:
        return None
    package = Path(__file__).resolve().parent
    sources = sorted((package / "kernels").rglob("*.py")) + [Path(__file__).resolve()]
    digest = hashlib.sha256(b"".join(p.read_bytes() for p in sources)).hexdigest()[:16]
    _prune(root / "kernels", keep=digest)
    return root / "kernels" / digest / tuning.build_name()


KEEP_SOURCE_STATES = 4  # compiled kernels of this many states of the sources are kept


def _prune(kernels, keep):
    """Mark the state ``keep`` as used now and delete the compiled kernels of all but the
    ``KEEP_SOURCE_STATES`` most recently used states (older releases, edits long gone)."""
    try:
        (kernels / keep).mkdir(parents=True, exist_ok=True)
        os.utime(kernels / keep)
        states = sorted(kernels.iterdir(), key=lambda p: p.stat().st_mtime, reverse=True)
        for stale in states[KEEP_SOURCE_STATES:]:
            shutil.rmtree(stale, ignore_errors=True)
    except OSError:  # another process pruning at the same moment, or a read-only cache
        pass


@functools.cache
def _cache_path_of(py_file):
    relative = Path(py_file).resolve().relative_to(Path(__file__).resolve().parent)
    return str(KERNEL_CACHE_DIR.joinpath(*relative.parent.parts))


_ENSURED = set()  # kernel cache directories found writable by this process


class KernelCacheLocator(_SourceFileBackedLocatorMixin, _CacheLocator):
    """Numba cache locator for the kernels: ``KERNEL_CACHE_DIR``, then the module's path
    inside the package (the stamp of freshness stays the file's content hash)."""

    def __init__(self, py_func, py_file):
        self._py_file = py_file
        self._lineno = py_func.__code__.co_firstlineno
        self._cache_path = _cache_path_of(py_file)

    def get_cache_path(self):
        return self._cache_path

    def ensure_cache_path(self):
        # once per directory and process, not for each of the ~120 kernels at import
        if self._cache_path not in _ENSURED:
            super().ensure_cache_path()
            _ENSURED.add(self._cache_path)

    @classmethod
    def from_function(cls, py_func, py_file):
        if KERNEL_CACHE_DIR is None:
            return None
        return super().from_function(py_func, py_file)


# Called with the serialised library of every kernel about to be loaded from the on-disk
# cache, before its symbols are resolved (see ``kernels.linked``).
BEFORE_LOAD = []


class KernelCacheImpl(CompileResultCacheImpl):
    def rebuild(self, target_context, payload):
        for hook in BEFORE_LOAD:
            hook(payload[0])
        return super().rebuild(target_context, payload)


class KernelCache(FunctionCache):
    """Numba's cache of compiled functions, running ``BEFORE_LOAD`` as it loads one."""

    _impl_class = KernelCacheImpl


def announce_compilation(kernel):
    """Say on standard error, once per process, that ``kernel`` is about to be compiled
    because neither this process nor the on-disk cache has it: the first run on a
    machine otherwise sits silent for 10-20 seconds."""
    global _announced
    if _announced or getattr(kernel, "signatures", True):  # compiled, or NUMBA_DISABLE_JIT
        return
    _announced = True
    if is_cached(kernel):
        return
    print("fastbp: compiling the kernels for this CPU (first run only, 10-20 seconds; "
          "'fastbp info --compile' does it ahead of time)", file=sys.stderr, flush=True)


def is_cached(kernel):
    """Whether the on-disk cache holds compiled code of ``kernel`` (a dispatcher)."""
    module = kernel.py_func.__module__.rsplit(".", 1)[-1]
    return KERNEL_CACHE_DIR is not None and any(
        KERNEL_CACHE_DIR.rglob(f"{module}.{kernel.py_func.__name__}-*.nbi"))


_announced = False
KERNEL_CACHE_DIR = _kernel_cache_dir()
if KERNEL_CACHE_DIR is None:
    JIT_OPTIONS["cache"] = False
