"""Results are bit-identical whatever the thread count, for the same seed."""

import hashlib
import os
import subprocess
import sys

import numpy as np
import pytest
from conftest import shared_by_neurons

from fastbp import Trainer
from fastbp._threads import max_threads


def train(threads, batch_size, dtype=np.float32, by_neuron=False):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((203, 30)).astype(dtype)
    y = rng.integers(0, 7, 203)
    trainer = Trainer([30, 41, 67, 7], activation="tanh", batch_size=batch_size,
                      learning_rate=0.05, threads=threads, seed=3, dtype=dtype)
    with shared_by_neurons(by_neuron):  # as for large layers
        history = trainer.fit(X, y, epochs=2)
    return trainer.network.params.copy(), history


@pytest.mark.parametrize("batch_size", [1, 7, 32, 203, 500])
def test_same_bits_for_every_thread_count(batch_size):
    params_1, history_1 = train(1, batch_size)
    for threads in range(1, max_threads() + 1):
        for by_neuron in (False, True):
            params_n, history_n = train(threads, batch_size, by_neuron=by_neuron)
            np.testing.assert_array_equal(params_n, params_1)
            assert history_n == history_1


@pytest.mark.slow
def test_same_bits_with_more_threads_than_cores():
    """In a fresh process with 8 Numba threads: 1, 3, 5 and 8 threads, the batch shared
    by samples or by neurons, give the same bits."""
    script = (
        "import hashlib, sys, numpy as np\n"
        f"sys.path.insert(0, {os.path.dirname(__file__)!r})\n"
        "from test_determinism import train\n"
        "for t in (1, 3, 5, 8):\n"
        "    for by_neuron in (False, True):\n"
        "        p, h = train(t, 13, by_neuron=by_neuron)\n"
        "        print(hashlib.sha256(p.tobytes()).hexdigest(), h['loss'])\n"
    )
    env = dict(os.environ, NUMBA_NUM_THREADS="8")
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                         text=True, timeout=600, check=True).stdout.splitlines()
    assert len(out) == 8 and len(set(out)) == 1, out
    params, _ = train(1, 13)
    assert out[0].split()[0] == hashlib.sha256(params.tobytes()).hexdigest()


def test_same_seed_same_result_and_different_seed_differs():
    a, _ = train(None, 16)
    b, _ = train(None, 16)
    np.testing.assert_array_equal(a, b)
    rng = np.random.default_rng(0)
    X = rng.standard_normal((50, 30)).astype(np.float32)
    y = rng.integers(0, 7, 50)
    t1 = Trainer([30, 7], seed=1)
    t2 = Trainer([30, 7], seed=2)
    t1.fit(X, y, epochs=1)
    t2.fit(X, y, epochs=1)
    assert not np.array_equal(t1.network.params, t2.network.params)
