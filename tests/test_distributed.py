"""Data-parallel training: the emulation in one process, and real MPI processes."""

import os
import shutil
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from fastbp import Trainer, TrainingDiverged, tuning
from fastbp.comm import Emulated, SingleProcess, get_comm

SETTINGS = dict(learning_rate=0.05, batch_size=15, seed=1)


def data():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((203, 7))
    return X, rng.integers(0, 3, 203)


def train(comm, epochs=4, dtype=np.float64, **kwargs):
    settings = dict(SETTINGS, **kwargs)
    trainer = Trainer([7, 11, 3], dtype=dtype, comm=comm, **settings)
    history = trainer.fit(*data(), epochs=epochs)
    return trainer, history


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_emulated_ranks_match_plain_training(optimizer):
    """The sums of the shards are the batch's sum up to rounding: float64 weights agree
    to 1e-12 with training in one piece; uneven shards (15 = 7 + 8) weigh by size."""
    plain, plain_history = train(None, optimizer=optimizer)
    for size in (2, 3, 16):  # 16 ranks: some get no sample of the last batch
        ranks, history = train(Emulated(size), optimizer=optimizer)
        np.testing.assert_allclose(ranks.network.params, plain.network.params, rtol=0,
                                   atol=1e-12)
        np.testing.assert_allclose(history["loss"], plain_history["loss"], rtol=1e-12)
        assert len(history["allreduce_seconds"]) == 4


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_emulated_ranks_on_sparse_inputs_match_plain_training(optimizer):
    """CSR inputs: each rank sums the first layer over its shard's features only, and
    every rank updates the features of the whole batch, as one process does (lazily for
    Adam, see fastbp.kernels.sparse)."""
    sparse = pytest.importorskip("scipy.sparse")
    X, y = data()
    X = sparse.csr_matrix(X * (np.abs(X) > 1))
    runs = []
    for comm in (None, Emulated(2), Emulated(3)):
        trainer = Trainer([7, 11, 3], dtype=np.float64, comm=comm, optimizer=optimizer,
                          **SETTINGS)
        runs.append((trainer.network, trainer.fit(X, y, epochs=3)))
    for network, history in runs[1:]:
        np.testing.assert_allclose(network.params, runs[0][0].params, rtol=0, atol=1e-12)
        np.testing.assert_allclose(history["loss"], runs[0][1]["loss"], rtol=1e-12)


@pytest.mark.parametrize("optimizer", [{"weight_decay": 1.0},
                                       {"momentum": 0.9, "weight_decay": 30.0}])
def test_emulated_ranks_guard_weight_decay_like_plain_training(optimizer):
    """The data-parallel guard bounds the weight decay and the optimiser's state as the
    single-process one does: the same step diverges, with the same finite weights."""
    def run(comm):
        trainer = Trainer([2, 2], learning_rate=3.0, batch_size=4, seed=0, dtype=np.float64,
                          comm=comm, **optimizer)
        with pytest.raises(TrainingDiverged) as info:
            trainer.fit(np.full((4, 2), 1e-3), [0, 1, 0, 1], epochs=3000)
        assert np.isfinite(trainer.network.params).all()
        return trainer, info.value.step

    (plain, step), (ranks, rank_step) = run(None), run(Emulated(2))
    assert rank_step == step
    np.testing.assert_allclose(ranks.network.params, plain.network.params, rtol=1e-9)


def test_single_process_comm_is_the_plain_path():
    a, _ = train(None, dtype=np.float32)
    b, _ = train(SingleProcess(), dtype=np.float32)
    np.testing.assert_array_equal(a.network.params, b.network.params)


def test_bad_comm():
    with pytest.raises(ValueError, match="comm must be None, 'mpi'"):
        get_comm("tcp")
    with pytest.raises(TypeError, match="communicator"):
        Trainer([2, 2], comm=object())
    with pytest.raises(ValueError, match="size must be an integer >= 1"):
        Emulated(0)


def mpiexec():
    candidate = os.path.join(os.path.dirname(sys.executable), "mpiexec")
    found = candidate if os.path.exists(candidate) else shutil.which("mpiexec")
    try:
        import mpi4py  # noqa: F401
    except ImportError:
        found = None
    if found is None:
        pytest.skip("needs mpi4py and mpiexec: pip install \".[mpi]\"")
    return found


RANK_SCRIPT = textwrap.dedent("""
    import sys
    import numpy as np
    sys.path.insert(0, {tests!r})
    from test_distributed import train
    from fastbp.comm import MPIComm

    comm = MPIComm()
    if sys.argv[2] == "fail" and comm.rank == 1:
        open(f"{{sys.argv[1]}}/rank1-failed", "w").close()
        raise RuntimeError("rank 1 fails on purpose")
    trainer, history = train(comm, dtype=np.float{bits}, dropout={dropout},
                             optimizer={optimizer!r}, threads=1, precision={precision!r})
    np.save(f"{{sys.argv[1]}}/rank{{comm.rank}}.npy", trainer.network.params)
    print("rank", comm.rank, "allreduce", history["allreduce_seconds"])
""")


def run_ranks(tmp_path, mode="train", bits=64, dropout=0.0, optimizer="sgd", precision="32",
              timeout=600):
    script = tmp_path / "ranks.py"
    script.write_text(RANK_SCRIPT.format(tests=os.path.dirname(__file__), bits=bits,
                                         dropout=dropout, optimizer=optimizer,
                                         precision=precision))
    return subprocess.run([mpiexec(), "-n", "2", sys.executable, "-m", "mpi4py", str(script),
                           str(tmp_path), mode], capture_output=True, text=True, timeout=timeout)


@pytest.mark.slow
@pytest.mark.parametrize("bits,dropout,optimizer,precision", [
    (64, 0.0, "sgd", "32"), (32, 0.3, "adam", "32"),
    pytest.param(32, 0.0, "sgd", "bf16-mixed", marks=pytest.mark.skipif(
        tuning.bf16_products() is None, reason="this CPU has no AVX512-BF16"))])
def test_two_mpi_processes_equal_the_emulation_bit_for_bit(tmp_path, bits, dropout, optimizer,
                                                           precision):
    dtype = np.float64 if bits == 64 else np.float32
    # Also compiles the kernels, so that the two processes only load Numba's cache.
    emulated, _ = train(Emulated(2), dtype=dtype, dropout=dropout, optimizer=optimizer,
                        threads=1, precision=precision)
    result = run_ranks(tmp_path, bits=bits, dropout=dropout, optimizer=optimizer,
                       precision=precision)
    assert result.returncode == 0, result.stderr
    rank0, rank1 = np.load(tmp_path / "rank0.npy"), np.load(tmp_path / "rank1.npy")
    np.testing.assert_array_equal(rank0, rank1)  # every rank holds the same weights
    np.testing.assert_array_equal(rank0, emulated.network.params)
    if bits == 64:
        plain, _ = train(None)
        np.testing.assert_allclose(rank0, plain.network.params, rtol=0, atol=1e-12)
    assert result.stdout.count("allreduce") == 2


@pytest.mark.slow
def test_a_failing_rank_ends_the_job(tmp_path):
    """Not a hang: rank 0 would wait in its first broadcast forever (run_ranks' timeout
    is what a hang would meet: generous, and no measure of speed)."""
    result = run_ranks(tmp_path, mode="fail")
    assert result.returncode != 0
    # Rank 1 did fail (its traceback may be cut short in stderr: the launcher that
    # forwards it is killed by the abort, a race the test cannot control).
    assert (tmp_path / "rank1-failed").exists()
    assert not list(tmp_path.glob("rank0.npy"))  # rank 0 did not train on alone
