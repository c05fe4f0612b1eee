"""Shared pieces of the asv suite: workloads, synthetic data, a base class.

The workloads are those of ``benchmarks/compare.py`` (by name), each with a number of
training samples that keeps one epoch at or under about half a second on two cores (1 s
for XL on one), so that the whole suite runs in minutes.
"""

import os
import sys
from collections import namedtuple

import numpy as np


def _find_fastbp():
    """asv's own environments install the commit being measured. With ``--python=same``
    asv installs nothing: fastbp is then taken from where that Python finds it (``pip
    install -e .``, or ``ASV_PYTHONPATH=...``) or, failing that, from the working tree
    that holds this benchmarks/ folder."""
    try:
        import fastbp  # noqa: F401
    except ImportError:
        sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


_find_fastbp()

from fastbp._threads import max_threads  # noqa: E402

N_FEATURES = 784
N_CLASSES = 10

Workload = namedtuple("Workload", "sizes activation output_activation cost batch_size n_samples")

# name -> layer sizes, hidden activation, output activation, cost, batch size, samples/epoch
WORKLOADS = {
    "S": Workload((784, 30, 10), "sigmoid", "softmax", "cross_entropy", 10, 8192),
    # Nielsen's setting: sigmoid output layer, quadratic cost.
    "S-quadratic": Workload((784, 30, 10), "sigmoid", "sigmoid", "quadratic", 10, 8192),
    "M32": Workload((784, 100, 10), "relu", "softmax", "cross_entropy", 32, 8192),
    "M128": Workload((784, 100, 10), "relu", "softmax", "cross_entropy", 128, 8192),
    "L": Workload((784, 512, 512, 10), "relu", "softmax", "cross_entropy", 128, 4096),
    "XL": Workload((784, 2048, 2048, 10), "relu", "softmax", "cross_entropy", 256, 1024),
}
WORKLOAD_NAMES = list(WORKLOADS)

LEARNING_RATE = 0.05
SEED = 0


def thread_counts():
    """1 and all threads (just 1 on a one-core machine)."""
    return sorted({1, max_threads()})


def n_weights(sizes):
    return sum(a * b for a, b in zip(sizes[:-1], sizes[1:]))


def flops_per_sample(sizes):
    """Floating-point operations of one training sample: forward (2 per weight), backward
    deltas (2 per weight) and weight gradient (2 per weight). Biases and activations,
    O(neurons), are left out."""
    return 6 * n_weights(sizes)


_DATA_CACHE = {}


def fashion_like(n):
    """``n`` seeded samples shaped like Fashion-MNIST: X float32 (n, 784) in [0, 1],
    y int64 labels 0..9. Each class is a fixed random 'image' plus noise, so the data
    can be learnt; cached per n (in the benchmark process)."""
    if n not in _DATA_CACHE:
        rng = np.random.default_rng(SEED)
        prototypes = rng.random((N_CLASSES, N_FEATURES), dtype=np.float32)
        y = rng.integers(0, N_CLASSES, n)
        X = prototypes[y] + np.float32(0.5) * rng.standard_normal((n, N_FEATURES),
                                                                  dtype=np.float32)
        np.clip(X, 0, 1, out=X)
        _DATA_CACHE[n] = (X, y.astype(np.int64))
    return _DATA_CACHE[n]


def make_trainer(name, threads, learning_rate=LEARNING_RATE, **options):
    """A Trainer for workload ``name`` on ``threads`` threads, float32, seeded; ``options``
    go to the Trainer as they are (an ``activation`` replaces the workload's)."""
    from fastbp import Trainer

    w = WORKLOADS[name]
    settings = {"cost": w.cost, "activation": w.activation,
                "output_activation": w.output_activation, "learning_rate": learning_rate,
                "batch_size": w.batch_size, "threads": threads, "seed": SEED, **options}
    return Trainer(list(w.sizes), **settings)


class Benchmark:
    """asv settings shared by the suite: every call of a timed function is timed on its
    own (``number = 1``; an epoch is long enough), 3 to 10 repeats within about 5 s, two
    rounds (fresh processes) and a short warm-up (``setup`` has compiled the kernels)."""

    timeout = 300
    number = 1
    repeat = (3, 10, 5.0)   # (min repeats, max repeats, max seconds)
    rounds = 2
    warmup_time = 0.1
