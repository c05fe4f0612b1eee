"""Data-parallel training over MPI: every process takes its shard of each mini-batch.

    pip install ".[mpi]"
    mpiexec -n 2 python -m mpi4py examples/distributed.py          # one machine
    srun -n 8 python -m mpi4py examples/distributed.py             # a Slurm cluster

Every rank loads the data itself (here the bundled digits; on a cluster, files on a
shared filesystem or a per-rank loader). Parameters and the shuffling come from rank 0,
only rank 0 prints and writes the model, and all ranks end with the same weights.
Without mpiexec it runs as one process.
"""

import time

from fastbp import Trainer
from fastbp.comm import MPIComm
from fastbp.datasets import load_digits, train_test_split

comm = MPIComm()
X, y = load_digits()
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, seed=0)
trainer = Trainer([64, 256, 128, 10], optimizer="adam", learning_rate=1e-3, batch_size=64,
                  seed=0, comm=comm, verbose=True)  # threads: the cores shared among ranks
start = time.perf_counter()
history = trainer.fit(X_train, y_train, epochs=20)
elapsed = time.perf_counter() - start
if comm.rank == 0:
    steps = history.get("allreduce_seconds", [0.0])  # absent with one process
    print(f"{comm.size} processes x {trainer.threads} threads: {elapsed:.2f} s, "
          f"all-reduce {sum(steps) / len(steps) * 1e6:.0f} us per step, "
          f"test accuracy {trainer.score(X_test, y_test):.4f}")
    trainer.save("distributed-model.npz")
