"""Training speed on a busy machine: one epoch of S and of M32 while one other process
keeps a core busy, with the default thread count (``threads=None``) and with one thread,
so that a default that collapses under contention shows against ``threads=1``.
"""

import os
import subprocess
import sys

from .common import WORKLOADS, Benchmark, fashion_like, make_trainer

# A CPU-bound neighbour that also ends when the benchmark process (its argument) does,
# should teardown never run: it checks its parent every million iterations (milliseconds).
BUSY_LOOP = """
import os, sys
parent = int(sys.argv[1])
while os.getppid() == parent:
    for _ in range(1_000_000):
        pass
"""


class TimeContention(Benchmark):
    params = (["S", "M32"], [None, 1])
    param_names = ["workload", "threads"]

    def setup(self, workload, threads):
        self.neighbour = subprocess.Popen([sys.executable, "-c", BUSY_LOOP, str(os.getpid())],
                                          stdin=subprocess.DEVNULL)
        try:
            self.X, self.y = fashion_like(WORKLOADS[workload].n_samples)
            self.trainer = make_trainer(workload, threads)
            self.trainer.fit(self.X, self.y, epochs=1)   # compile / load kernels, allocate
        except BaseException:
            self.teardown(workload, threads)
            raise

    def teardown(self, workload, threads):
        self.neighbour.kill()
        self.neighbour.wait()

    def time_epoch(self, workload, threads):
        """Wall time of one epoch beside one busy process."""
        self.trainer.fit(self.X, self.y, epochs=1)
