"""Samples per second and all-reduce time of data-parallel training, one workload.

    python benchmarks/distributed.py M128 --threads 1            # one process
    mpiexec -n 2 python -m mpi4py benchmarks/distributed.py M128  # two, over MPI

Median of ``--epochs`` one-epoch fits after a warm-up epoch, on the workloads of
``benchmarks/common.py``; rank 0 prints.
"""

import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from benchmarks.common import WORKLOADS, fashion_like, make_trainer


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("workload", choices=sorted(WORKLOADS))
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--epochs", type=int, default=5)
    args = parser.parse_args()
    mpi = any(name in os.environ for name in ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "PMIX_RANK"))
    trainer = make_trainer(args.workload, args.threads, learning_rate=0.01,
                           comm="mpi" if mpi else None)
    w = WORKLOADS[args.workload]
    X, y = fashion_like(w.n_samples)
    trainer.fit(X, y, epochs=1)
    seconds, allreduce = [], []
    for _ in range(args.epochs):
        start = time.perf_counter()
        history = trainer.fit(X, y, epochs=1)
        seconds.append(time.perf_counter() - start)
        allreduce.append(history.get("allreduce_seconds", [0.0])[0])
    if trainer.comm.rank == 0:
        epoch, step = np.median(seconds), np.median(allreduce)
        steps = -(-w.n_samples // w.batch_size)
        print(f"{args.workload}: {trainer.comm.size} process(es) x {trainer.threads} "
              f"thread(s): {w.n_samples / epoch:,.0f} samples/s, all-reduce "
              f"{step * 1e6:.0f} us per step ({100 * step * steps / epoch:.1f}% of the epoch)")


if __name__ == "__main__":
    main()
