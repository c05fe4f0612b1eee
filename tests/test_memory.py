"""No memory is allocated inside the training loop once it runs."""

import os
import subprocess
import sys
import textwrap

import pytest

SCRIPT = textwrap.dedent("""
    import tracemalloc
    import numpy as np
    from numba.core.runtime import rtsys
    from fastbp import Trainer

    rng = np.random.default_rng(0)
    X = rng.random((3000, 50), dtype=np.float32)
    y = rng.integers(0, 10, 3000)
    trainer = Trainer([50, 40, 30, 10], batch_size=7, seed=0, threads=1)  # one call an epoch
    trainer.fit(X, y, epochs=1)                 # compiles, allocates the workspaces

    def allocations(n_samples, epochs):
        before = rtsys.get_allocation_stats()
        tracemalloc.start()
        trainer.fit(X[:n_samples], y[:n_samples], epochs=epochs)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        after = rtsys.get_allocation_stats()
        return after.alloc - before.alloc, after.free - before.free, peak

    print(*allocations(70, 1), *allocations(3000, 1), *allocations(70, 5), *allocations(3000, 5))
""")


@pytest.mark.slow
def test_no_allocation_in_the_training_loop():
    env = dict(os.environ, NUMBA_NRT_STATS="1")
    out = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True,
                         timeout=600, check=True).stdout.split()
    (allocs_10, frees_10, _, allocs_429, frees_429, peak_1,
     allocs_5x10, frees_5x10, _, allocs_5x429, frees_5x429, peak_5) = map(int, out)
    # Numba's runtime counts a record for arrays handed to a compiled call (the
    # arguments of each epoch's call); the steps inside allocate nothing: 10 steps and
    # 429 steps per epoch cost the same, and every record is freed.
    assert allocs_10 == allocs_429 == frees_429 == frees_10
    assert allocs_5x10 == allocs_5x429 == frees_5x429 == frees_5x10
    assert allocs_429 <= 26 and allocs_5x429 <= 5 * 26  # about one per array argument
    # Python allocates per fit call and per epoch (the shuffled order: 3000 int64),
    # never per step, and the peak does not grow with the number of epochs.
    assert peak_1 < 200_000
    assert peak_5 < 200_000


PEAK_SCRIPT = textwrap.dedent("""
    import tracemalloc
    import numpy as np
    from fastbp import Trainer
    from fastbp.kernels.gemm import PACK_SIZE

    rng = np.random.default_rng(0)
    X = rng.random((2000, 300), dtype=np.float32)
    y = rng.integers(0, 10, 2000)
    trainer = Trainer([300, 1500, 10], batch_size=64, seed=0, threads=2)
    # Compile first: training by neurons (this network's layers are shared on two
    # threads), and the evaluation kernel a first fit uses to check the loss has moved.
    warm = Trainer([300, 1500, 10], batch_size=64, seed=0, threads=2)
    warm.fit(X[:64], y[:64], epochs=1)
    warm.evaluate(X[:64], y[:64])
    tracemalloc.start()
    trainer.fit(X, y, epochs=2)   # the first fit: workspaces are allocated in it
    peak = tracemalloc.get_traced_memory()[1]
    params = trainer.network.params.nbytes
    activations = 64 * (300 + 1500 + 10) * 4 * 2   # a_ws and d_ws
    scratch = 2 * PACK_SIZE * 4
    print(peak, X.nbytes, params, activations, scratch)
""")


@pytest.mark.slow
def test_peak_memory_of_fit():
    """Beyond the data (converted once; here not at all: float32 already) and the
    network, fit allocates one batch of activations and deltas, each thread's scratch,
    the targets and an epoch's order: no copy of the parameters (the update is fused,
    no gradient is stored) and nothing that grows with the number of steps."""
    out = subprocess.run([sys.executable, "-c", PEAK_SCRIPT], capture_output=True, text=True,
                         timeout=600, check=True).stdout.split()
    peak, data, params, activations, scratch = map(int, out)
    targets_and_order = 2000 * (10 * 4 + 8) * 2
    assert peak <= activations + scratch + targets_and_order + 200_000, out
    assert params > 1_500_000  # the bound would not hold with a copy of them


SPARSE_PEAK_SCRIPT = textwrap.dedent("""
    import tracemalloc
    import numpy as np
    import scipy.sparse as sp
    from fastbp import Trainer
    from fastbp.kernels.gemm import PACK_SIZE

    X = sp.random(2000, 20000, density=0.005, format="csr", dtype=np.float32,
                  random_state=0)
    y = np.random.default_rng(0).integers(0, 10, 2000)
    warm = Trainer([20000, 64, 10], batch_size=64, seed=0, threads=2)
    warm.fit(X[:64], y[:64], epochs=1)
    warm.evaluate(X[:64], y[:64])
    trainer = Trainer([20000, 64, 10], batch_size=64, seed=0, threads=2)
    tracemalloc.start()
    trainer.fit(X, y, epochs=2)   # lays W[1] out feature-major: one new parameter buffer
    peak = tracemalloc.get_traced_memory()[1]
    params = trainer.network.params.nbytes
    dense = X.shape[0] * X.shape[1] * 4
    activations = 64 * (64 + 10) * 4 * 2   # a_ws and d_ws
    features = 20000 * (8 + 1)             # the batch's features and their flags
    scratch = 2 * PACK_SIZE * 4
    print(peak, dense, params, activations + features + scratch)
""")


@pytest.mark.slow
def test_peak_memory_of_fit_on_sparse_inputs():
    """On CSR inputs fit never densifies X (160 MB here): beyond the data and the
    network it allocates the parameters once more (W[1] laid out feature-major, the old
    buffer freed), a batch's workspace, the targets and an epoch's order."""
    out = subprocess.run([sys.executable, "-c", SPARSE_PEAK_SCRIPT], capture_output=True,
                         text=True, timeout=600, check=True).stdout.split()
    peak, dense, params, workspace = map(int, out)
    targets_and_order = 2000 * (10 * 4 + 8) * 2
    assert peak <= params + workspace + targets_and_order + 200_000, out
    assert dense > 20 * peak
