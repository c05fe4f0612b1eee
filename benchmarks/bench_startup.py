"""Start-up cost: a fresh interpreter that imports fastbp and takes its first steps.

Numba's on-disk cache is warm after the first run (``setup`` sees to it), so compilation
itself cannot be timed here; what is timed is everything a user waits for before the
first batch: interpreter start, importing NumPy, Numba and fastbp, loading the cached
kernels and one tiny fit. A slower import, a kernel that stops being cached, or a cache
that stops matching shows up as a jump.
"""

import os
import subprocess
import sys

import fastbp

from .common import Benchmark  # first: it finds fastbp under --python=same

IMPORT_ONLY = "import fastbp"

FIRST_STEP = """
import numpy as np
import fastbp
rng = np.random.default_rng(0)
X = rng.random((64, 784), dtype=np.float32)
y = rng.integers(0, 10, 64)
fastbp.Trainer([784, 30, 10], cost="cross_entropy", activation="relu", learning_rate=0.05,
               batch_size=32, seed=0).fit(X, y, epochs=1)
"""


def _environment():
    """The benchmark process's environment, plus the directory fastbp was imported from
    (asv's ``ASV_PYTHONPATH`` reaches only the benchmark process, not its children)."""
    env = os.environ.copy()
    root = os.path.dirname(os.path.dirname(os.path.abspath(fastbp.__file__)))
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
    return env


def _run(code):
    subprocess.run([sys.executable, "-c", code], env=_environment(), check=True,
                   stdout=subprocess.DEVNULL)


class TimeStartup(Benchmark):
    repeat = (3, 5, 20.0)
    warmup_time = 0.0

    def setup(self):
        _run(FIRST_STEP)   # fill Numba's cache for these kernels, if it is not yet

    def time_import(self):
        """A fresh interpreter running ``import fastbp``."""
        _run(IMPORT_ONLY)

    def time_import_and_first_step(self):
        """A fresh interpreter importing fastbp and training one epoch of two batches."""
        _run(FIRST_STEP)
