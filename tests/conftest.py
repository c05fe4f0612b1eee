import contextlib
import os
import subprocess
import sys
import tempfile
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


# Test runs in child processes of their own (another kernel variant, emulated bfloat16
# products), each compiling every kernel again: they start as soon as the tests are
# collected, beside this process, which compiles on one core most of the time, and the
# test that asks for one waits for its result. Niced: this process goes first.
ROOT = Path(__file__).resolve().parents[1]
CHILD_TIMEOUT = 1800  # seconds a child run may take, from its start


def child_pytest(*args, **env):
    """A mark for a test that checks ``python -m pytest *args`` run with ``env`` added
    (through the ``child_run`` fixture)."""
    return pytest.mark.child_pytest(*args, **env)


class ChildRun:
    """``python -m pytest -q -x *args`` in a child process, its output in files."""

    def __init__(self, args, env):
        # closed by ``stop``, at the end of the session
        self.output = (tempfile.TemporaryFile("w+"),  # noqa: SIM115
                       tempfile.TemporaryFile("w+"))  # noqa: SIM115
        self.process = subprocess.Popen(
            [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", *args],
            stdout=self.output[0], stderr=self.output[1], text=True, cwd=ROOT,
            env=dict(os.environ, **env), preexec_fn=lambda: os.nice(5))

    def result(self):
        """The finished run as a ``subprocess.CompletedProcess``."""
        self.process.wait(timeout=CHILD_TIMEOUT)
        stdout, stderr = (f.seek(0) or f.read() for f in self.output)
        return subprocess.CompletedProcess(self.process.args, self.process.returncode,
                                           stdout, stderr)

    def stop(self):
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        for f in self.output:
            f.close()


_child_runs = {}  # node id -> ChildRun


def _start(item):
    marker = item.get_closest_marker("child_pytest")
    if item.nodeid not in _child_runs:
        _child_runs[item.nodeid] = ChildRun(marker.args, marker.kwargs)
    return _child_runs[item.nodeid]


def pytest_configure(config):
    config.addinivalue_line("markers", "child_pytest(*args, **env): the test checks a "
                            "child pytest run, started when the tests are collected")


def pytest_collection_finish(session):
    # the tests selected to run (after -k, -m and deselection)
    for item in session.items:
        skipped = any(m.args and m.args[0] is True for m in item.iter_markers("skipif"))
        if item.get_closest_marker("child_pytest") is not None and not skipped:
            _start(item)


def pytest_sessionfinish(session):
    for run in _child_runs.values():
        run.stop()


@pytest.fixture
def child_run(request):
    """The result of the test's ``child_pytest`` run, once it has finished."""
    return _start(request.node).result()


def assert_child_passed(result):
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert " passed" in result.stdout and "failed" not in result.stdout
