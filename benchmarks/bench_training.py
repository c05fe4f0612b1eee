"""Training speed, memory and correctness of fastbp's Trainer.

Speed: one epoch of mini-batch SGD on each workload of ``common.WORKLOADS``, on 1 thread
and on all threads (and on L and XL with ``precision="bf16-mixed"``). ``setup`` builds the
Trainer and runs one untimed epoch, so Numba's compilation (or loading from its on-disk
cache) is never part of a measurement.
"""

import time

from .common import (
    SPARSE_WORKLOADS,
    WORKLOAD_NAMES,
    WORKLOADS,
    Benchmark,
    fashion_like,
    flops_per_sample,
    make_sparse_trainer,
    make_trainer,
    sparse_data,
    sparse_flops_per_sample,
    thread_counts,
)


class _Epoch(Benchmark):
    params = (WORKLOAD_NAMES, thread_counts())
    param_names = ["workload", "threads"]

    def setup(self, workload, threads):
        w = WORKLOADS[workload]
        self.X, self.y = fashion_like(w.n_samples)
        self.trainer = make_trainer(workload, threads)
        self.trainer.fit(self.X, self.y, epochs=1)   # compile / load kernels, allocate

    def _timed_epoch(self):
        start = time.perf_counter()
        self.trainer.fit(self.X, self.y, epochs=1)
        return time.perf_counter() - start


class TimeTraining(_Epoch):
    def time_epoch(self, workload, threads):
        """Wall time of one epoch."""
        self.trainer.fit(self.X, self.y, epochs=1)


class TimeTrainingBF16(_Epoch):
    """One epoch with ``precision="bf16-mixed"`` (bfloat16 operands for the three matrix
    products per layer, float32 sums and weights), against TimeTraining's float32 epoch of
    the same workload: L and XL, whose time the products dominate. Skipped where the CPU
    cannot multiply bfloat16 numbers (``fastbp.tuning.bf16_products()`` is None)."""

    params = (["L", "XL"], thread_counts())
    param_names = ["workload", "threads"]

    def setup(self, workload, threads):
        from fastbp import tuning

        if tuning.bf16_products() is None:
            raise NotImplementedError("precision='bf16-mixed' needs AVX512-BF16")   # asv: skip
        w = WORKLOADS[workload]
        self.X, self.y = fashion_like(w.n_samples)
        self.trainer = make_trainer(workload, threads, precision="bf16-mixed")
        self.trainer.fit(self.X, self.y, epochs=1)   # compile / load kernels, allocate

    def time_epoch(self, workload, threads):
        """Wall time of one epoch."""
        self.trainer.fit(self.X, self.y, epochs=1)


class MemTraining(_Epoch):
    # One call: the peak resident memory of the process does not need repeats.
    repeat = 1
    rounds = 1

    def peakmem_fit(self, workload, threads):
        """Peak resident memory of the process over setup and one epoch."""
        self.trainer.fit(self.X, self.y, epochs=1)


class TrackThroughput(_Epoch):
    # Best of this many single-epoch timings per reported value (noise on a shared machine
    # only ever slows an epoch down).
    epochs = 3

    def _best_epoch(self):
        return min(self._timed_epoch() for _ in range(self.epochs))

    def track_samples_per_second(self, workload, threads):
        """Training samples processed per second (best epoch)."""
        return round(WORKLOADS[workload].n_samples / self._best_epoch(), 1)

    track_samples_per_second.unit = "samples/s"

    def track_gflops(self, workload, threads):
        """GFLOP/s, counting 6 x (number of weights) per sample (best epoch)."""
        w = WORKLOADS[workload]
        return round(w.n_samples * flops_per_sample(w.sizes) / self._best_epoch() / 1e9, 2)

    track_gflops.unit = "GFLOP/s"


class TimeTrainingOptions(Benchmark):
    """What an epoch costs with the features that run inside the kernels, against plain
    SGD on the same workload (M128, all threads): dropout (mask hashing in the forward
    pass and BP2), Adam (the unfused update), a checkpoint per epoch (an atomic write)."""

    params = (["sgd", "dropout", "adam", "checkpoint"],)
    param_names = ["option"]

    def setup(self, option):
        import tempfile

        w = WORKLOADS["M128"]
        self.X, self.y = fashion_like(w.n_samples)
        options = {"dropout": dict(dropout=0.2), "adam": dict(optimizer="adam")}
        self.trainer = make_trainer("M128", None, **options.get(option, {}))
        self.fit_kwargs = {}
        if option == "checkpoint":
            self.directory = tempfile.TemporaryDirectory()
            self.fit_kwargs = dict(checkpoint=f"{self.directory.name}/run.npz")
        self.trainer.fit(self.X, self.y, epochs=1, **self.fit_kwargs)

    def time_epoch(self, option):
        self.trainer.fit(self.X, self.y, epochs=1, **self.fit_kwargs)


class TrackAccuracy:
    """Correctness next to speed: held-out accuracy and training loss on the 8x8 digits
    after a few epochs, for a softmax/cross-entropy network and Nielsen's
    sigmoid/quadratic one. Training is deterministic (bit-identical on any number of
    threads), so a change in these numbers means a change in what is computed."""

    params = ["cross_entropy", "quadratic"]
    param_names = ["cost"]
    timeout = 300
    epochs = 5

    def setup(self, cost):
        from fastbp import Trainer
        from fastbp.datasets import load_digits, train_test_split

        X, y = load_digits()
        self.X_train, self.X_test, self.y_train, self.y_test = train_test_split(
            X, y, test_size=0.25, seed=0)
        if cost == "cross_entropy":
            self.trainer = Trainer([64, 64, 10], cost="cross_entropy", activation="relu",
                                   learning_rate=0.1, batch_size=32, seed=0)
        else:
            self.trainer = Trainer([64, 30, 10], cost="quadratic", activation="sigmoid",
                                   output_activation="sigmoid", learning_rate=3.0,
                                   batch_size=10, seed=0)
        self.history = self.trainer.fit(self.X_train, self.y_train, epochs=self.epochs)

    def track_test_accuracy(self, cost):
        """Accuracy on the held-out quarter after training."""
        return round(100.0 * self.trainer.score(self.X_test, self.y_test), 2)

    track_test_accuracy.unit = "%"

    def track_final_train_loss(self, cost):
        """Mean training cost over the last epoch."""
        return round(self.history["loss"][-1], 6)

    track_final_train_loss.unit = "cost"


class _SparseEpoch(_Epoch):
    """One epoch of mini-batch SGD on sparse inputs (SciPy CSR, ``common.SPARSE_WORKLOADS``:
    hashed-text-like, 100,000 features, about 100 nonzeros a row)."""

    params = (list(SPARSE_WORKLOADS), thread_counts())
    param_names = ["workload", "threads"]
    timeout = 600

    def setup(self, workload, threads):
        self.X, self.y = sparse_data(workload)
        self.trainer = make_sparse_trainer(workload, threads)
        self.trainer.fit(self.X, self.y, epochs=1)   # compile / load kernels, allocate


class TimeSparseTraining(_SparseEpoch):
    def time_epoch(self, workload, threads):
        """Wall time of one epoch."""
        self.trainer.fit(self.X, self.y, epochs=1)


class MemSparseTraining(_SparseEpoch):
    """Peak resident memory over setup and one epoch: to compare with the CSR matrix
    (``X.data``, ``X.indices``, ``X.indptr``), twice the parameters (W[1] is laid out
    feature-major once, through a copy) and the workspace."""

    repeat = 1
    rounds = 1

    def peakmem_fit(self, workload, threads):
        self.trainer.fit(self.X, self.y, epochs=1)

    def track_budget_mb(self, workload, threads):
        """CSR + 2 x parameters, in MB: what peakmem_fit should stay near."""
        X, params = self.X, self.trainer.network.params
        return round((X.data.nbytes + X.indices.nbytes + X.indptr.nbytes
                      + 2 * params.nbytes) / 1e6, 1)

    track_budget_mb.unit = "MB"

    def track_data_peak_mb(self, workload, threads):
        """The arrays' share of the peak, in MB, against ``track_budget_mb``: the CSR
        matrix, a new network's parameters and what NumPy allocates (``tracemalloc``)
        during its first fit; the process's own memory (Python, Numba, LLVM's code), which
        ``peakmem_fit`` also counts, left out."""
        import tracemalloc

        X, trainer = self.X, make_sparse_trainer(workload, threads)
        held = X.data.nbytes + X.indices.nbytes + X.indptr.nbytes + trainer.network.params.nbytes
        tracemalloc.start()
        try:
            trainer.fit(X, self.y, epochs=1)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        return round((held + peak) / 1e6, 1)

    track_data_peak_mb.unit = "MB"


class TrackSparseThroughput(_SparseEpoch):
    epochs = TrackThroughput.epochs
    _best_epoch = TrackThroughput._best_epoch

    def track_samples_per_second(self, workload, threads):
        """Training samples processed per second (best epoch)."""
        return round(SPARSE_WORKLOADS[workload].n_samples / self._best_epoch(), 1)

    track_samples_per_second.unit = "samples/s"

    def track_gflops(self, workload, threads):
        """GFLOP/s, counting the first layer's work by its nonzeros."""
        w = SPARSE_WORKLOADS[workload]
        nonzeros = self.X.nnz / self.X.shape[0]
        return round(w.n_samples * sparse_flops_per_sample(w.sizes, nonzeros)
                     / self._best_epoch() / 1e9, 2)

    track_gflops.unit = "GFLOP/s"
