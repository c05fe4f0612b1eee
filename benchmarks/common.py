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

# Sparse inputs (hashed or TF-IDF text): layer sizes, nonzeros per row, batch size,
# samples per epoch. ReLU hidden layer, softmax and cross-entropy.
SparseWorkload = namedtuple("SparseWorkload", "sizes nonzeros batch_size n_samples")
SPARSE_WORKLOADS = {
    "text": SparseWorkload((100_000, 256, 20), 100, 128, 50_000),
}

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


def sparse_flops_per_sample(sizes, nonzeros):
    """As ``flops_per_sample``, with the first layer's work that of its nonzeros: the
    forward pass and BP4 (2 each per nonzero and neuron); no BP2 into the inputs."""
    return 4 * nonzeros * sizes[1] + flops_per_sample(sizes[1:])


def text_like(n, n_features, nonzeros, n_classes):
    """``n`` seeded samples shaped like hashed TF-IDF text: X a SciPy CSR float32
    (n, n_features) with about ``nonzeros`` entries per row, rows of unit norm, y int64
    labels. Each class has its own 2,000 features ('its vocabulary'), from which a row
    draws half its nonzeros, the other half from all features; cached per shape."""
    import scipy.sparse as sp

    key = ("text", n, n_features, nonzeros, n_classes)
    if key not in _DATA_CACHE:
        rng = np.random.default_rng(SEED)
        vocabulary = rng.integers(0, n_features, (n_classes, 2000))
        y = rng.integers(0, n_classes, n)
        own = vocabulary[y[:, None], rng.integers(0, 2000, (n, nonzeros // 2))]
        other = rng.integers(0, n_features, (n, nonzeros - nonzeros // 2))
        columns = np.sort(np.hstack([own, other]), axis=1)
        values = rng.random((n, nonzeros), dtype=np.float32) + np.float32(0.5)
        values /= np.sqrt((values ** 2).sum(axis=1, keepdims=True))
        X = sp.csr_matrix((values.ravel(), columns.ravel().astype(np.int32),
                           np.arange(0, n * nonzeros + 1, nonzeros)), shape=(n, n_features))
        X.sum_duplicates()
        _DATA_CACHE[key] = (X, y.astype(np.int64))
    return _DATA_CACHE[key]


def sparse_data(name, n=None):
    """The data of sparse workload ``name`` (``n`` samples: default its epoch's)."""
    w = SPARSE_WORKLOADS[name]
    return text_like(n or w.n_samples, w.sizes[0], w.nonzeros, w.sizes[-1])


def make_sparse_trainer(name, threads, learning_rate=LEARNING_RATE, **options):
    """A Trainer for sparse workload ``name``, float32, seeded."""
    from fastbp import Trainer

    w = SPARSE_WORKLOADS[name]
    return Trainer(list(w.sizes), learning_rate=learning_rate, batch_size=w.batch_size,
                   threads=threads, seed=SEED, **options)


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
