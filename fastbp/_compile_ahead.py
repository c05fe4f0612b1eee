"""A first ``fit`` on a cold kernel cache compiles in two processes.

A training step's kernels come in two halves that compile independently: the forward
pass, cost, BP1 and BP2 (``backprop_batch``) with the divergence guard (``admissible``),
and BP3/BP4 with the update (``gradient_step``). Numba compiles on one core. When
neither this process nor the on-disk cache has ``train_epoch``, a helper process
(``python -m fastbp._compile_ahead``) compiles the second half for this fit's argument
types into the on-disk cache while this process compiles the first; ``train_epoch``
then finds the helper's kernels in the cache and loads them. The helper first compiles
a few small kernels that this process's half calls (the guard's ``update_bounds``,
``train_epoch``'s ``batch_totals``): they are in the cache by the time this process
types the calls, and the halves take about as long. A first ``python -m fastbp`` on 2
cores: about 16 s -> 9-10 s (quiet machine).

Nothing depends on the helper: if it cannot start, fails or is killed, this process
compiles what it did not leave in the cache, as it would have without it; argument
types that differ from the ones it compiled for only cost the time. It is not started
for one core, without an on-disk cache, under ``NUMBA_DISABLE_JIT``, or with
``FASTBP_COMPILE_HELPER=0``.
"""

import contextlib
import os
import pickle
import subprocess
import sys
from pathlib import Path

import numba
from numba import typeof

from . import _config
from .comm import usable_cores

ENV = "FASTBP_COMPILE_HELPER"
HELPER_TIMEOUT = 600  # seconds this process waits for the helper at most


def wanted(kernel):
    """Whether ``kernel`` (a dispatcher) is neither compiled in this process nor found
    in the on-disk cache, and a helper may be started."""
    if (os.environ.get(ENV, "1") == "0" or numba.config.DISABLE_JIT
            or _config.KERNEL_CACHE_DIR is None or kernel.signatures
            or usable_cores() < 2 or not sys.executable):
        return False
    return not _config.is_cached(kernel)


def compile_in_two(helper, here):
    """Compile the kernels of ``helper`` in a helper process and those of ``here`` in
    this one, then wait for the helper. Each is a list of (dispatcher, arguments): the
    kernel is compiled for the arguments' types, without running it."""
    process = _start([(kernel.py_func.__module__, kernel.py_func.__name__, _types(args))
                      for kernel, args in helper])
    try:
        for kernel, args in here:
            kernel.compile(_types(args))
    finally:
        if process is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=HELPER_TIMEOUT)
            if process.poll() is None:  # also when this process is interrupted
                process.kill()
                process.wait()


def _types(args):
    return tuple(typeof(a) for a in args)


def _start(work):
    """The helper process, given ``work`` on its standard input; None if it cannot
    start."""
    package = str(Path(__file__).resolve().parent.parent)  # the fastbp imported here
    path = os.pathsep.join([package] + [p for p in os.environ.get("PYTHONPATH", "")
                                        .split(os.pathsep) if p])
    try:
        process = subprocess.Popen(
            [sys.executable, "-m", __name__], stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            env=dict(os.environ, PYTHONPATH=path))
    except OSError:
        return None
    try:
        process.stdin.write(pickle.dumps(work))
        process.stdin.close()
    except OSError:  # it ended at once
        pass
    return process


def main():
    """The helper: compile each (module, kernel name, argument types) read from standard
    input into the on-disk cache."""
    import importlib

    for module, name, signature in pickle.load(sys.stdin.buffer):
        getattr(importlib.import_module(module), name).compile(signature)


if __name__ == "__main__":
    main()
