import contextlib
import os
from pathlib import Path

import numpy as np
import pytest

import fastbp
import fastbp.kernels.step
from fastbp.kernels.activations import ACTIVATIONS
from fastbp.kernels.activations import HIDDEN_ACTIVATIONS as _HIDDEN
from fastbp.kernels.costs import COSTS
from fastbp.optim import OPTIMIZERS

# Child processes (subprocess, multiprocessing, mpiexec ranks) import the fastbp under
# test, as this process does, not another installed copy whose Numba cache may be cold.
os.environ["PYTHONPATH"] = os.pathsep.join(
    [str(Path(fastbp.__file__).resolve().parent.parent)]
    + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p])

# From the registries, so that a new entry goes through every test parametrised by them.
# Every valid (output activation, cost) pair: cross-entropies need their own output, the
# quadratic cost takes any.
OUTPUT_COST_PAIRS = [(output, name) for name, cost in COSTS.items()
                     for output in ([cost.output] if cost.needs_output else ACTIVATIONS)]
HIDDEN_ACTIVATIONS = list(_HIDDEN)
# Activations whose f' is computed from z, which the forward pass then keeps.
Z_ACTIVATIONS = [name for name, f in ACTIVATIONS.items() if f.needs_z]
OPTIMIZER_NAMES = list(OPTIMIZERS)


def make_targets(rng, cost, output, m, n_out):
    """Targets a cost accepts: probabilities for the cross-entropies, any values else."""
    if cost == "cross_entropy":
        Y = rng.random((m, n_out)) + 0.1
        return Y / Y.sum(axis=1, keepdims=True)
    if cost == "binary_cross_entropy" or output in ("sigmoid", "softmax"):
        return rng.random((m, n_out))
    return rng.standard_normal((m, n_out))


@contextlib.contextmanager
def shared_by_neurons(enabled=True):
    """While ``enabled``, training on more than one thread shares every layer by neurons,
    as it does for large layers: the documented threshold
    ``fastbp.kernels.step.BY_NEURON_MIN_WEIGHTS`` is set to 0."""
    saved = fastbp.kernels.step.BY_NEURON_MIN_WEIGHTS
    if enabled:
        fastbp.kernels.step.BY_NEURON_MIN_WEIGHTS = 0
    try:
        yield
    finally:
        fastbp.kernels.step.BY_NEURON_MIN_WEIGHTS = saved


@pytest.fixture
def rng():
    return np.random.default_rng(12345)
