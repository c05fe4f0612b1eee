"""Trainers in several Python threads at once give the bits they give one after the
other, whatever Numba's threading layer. Under ``workqueue``, which aborts the process
when two Python threads run parallel kernels at once, fastbp serialises the kernels."""

import hashlib
import os
import subprocess
import sys
import threading
import time

import numba
import numpy as np
import pytest

from fastbp import ConcurrentUseError, Network, Trainer, _threads
from fastbp._exclusive import reading

SEEDS = (1, 2)


def train(seed, threads=None, barrier=None):
    """Train a small network (long enough for two runs to overlap); returns the digest
    of its parameters, its history and its predictions."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((400, 12)).astype(np.float32)
    y = rng.integers(0, 4, 400)
    trainer = Trainer([12, 24, 4], activation="tanh", batch_size=4, learning_rate=0.05,
                      seed=seed, threads=threads)
    if barrier is not None:
        barrier.wait()  # start together, so that the runs overlap
    history = trainer.fit(X, y, epochs=4)
    proba = trainer.predict_proba(X)
    evaluation = trainer.evaluate(X, y)
    digest = hashlib.sha256(trainer.network.params.tobytes() + proba.tobytes())
    return digest.hexdigest(), history, evaluation


def one_after_the_other(seeds=SEEDS, threads=None):
    return {seed: train(seed, threads) for seed in seeds}


def at_once(seeds=SEEDS, threads=None):
    """Each seed trained in its own Python thread, all at the same time."""
    results, errors = {}, []
    barrier = threading.Barrier(len(seeds))

    def work(seed):
        try:
            results[seed] = train(seed, threads, barrier)
        except Exception as error:
            errors.append(error)
            barrier.abort()

    workers = [threading.Thread(target=work, args=(seed,)) for seed in seeds]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    if errors:
        raise errors[0]
    return results


@pytest.mark.parametrize("threads", [None, 1])
def test_two_trainers_at_once_give_the_bits_of_one_after_the_other(threads):
    expected = one_after_the_other(threads=threads)
    assert at_once(threads=threads) == expected
    assert at_once(SEEDS + SEEDS[:1], threads=threads)[SEEDS[0]] == expected[SEEDS[0]]


SCRIPT = """
import json, sys
sys.path.insert(0, {tests!r})
import numba
from test_threads import at_once, one_after_the_other
sequential = one_after_the_other()
concurrent = at_once()
print(json.dumps({{"layer": numba.threading_layer(),
                  "sequential": sequential[1][0], "concurrent": concurrent[1][0],
                  "same": sequential == concurrent}}))
"""


@pytest.mark.slow
def test_workqueue_layer_is_serialised_not_aborted():
    """In a process whose threading layer is ``workqueue``: no abort ("Concurrent access
    has been detected"), and the same bits as one after the other (and as here)."""
    import json

    env = dict(os.environ, NUMBA_THREADING_LAYER="workqueue")
    script = SCRIPT.format(tests=os.path.dirname(os.path.abspath(__file__)))
    try:
        done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                              text=True, timeout=540, check=False)
    except subprocess.TimeoutExpired as error:
        pytest.fail(f"the workqueue process hung: {error.stderr}")
    assert done.returncode == 0, f"exit status {done.returncode}:\n{done.stderr[-3000:]}"
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["layer"] == "workqueue"
    assert result["same"]
    assert result["concurrent"] == result["sequential"] == train(SEEDS[0])[0]


# The lock itself ---------------------------------------------------------------------

def _lock_taken():
    """Whether the kernel lock is held (by this thread): another thread cannot take it."""
    got = []

    def attempt():
        got.append(_threads._KERNEL_LOCK.acquire(blocking=False))
        if got[0]:
            _threads._KERNEL_LOCK.release()

    other = threading.Thread(target=attempt)
    other.start()
    other.join()
    return not got[0]


def _fake_layer(monkeypatch, layer):
    def threading_layer():
        if layer is None:
            raise ValueError("Threading layer is not initialized.")
        return layer

    monkeypatch.setattr(numba, "threading_layer", threading_layer)


@pytest.mark.parametrize("layer,locked", [("omp", False), ("tbb", False),
                                          ("workqueue", True), (None, True)])
def test_lock_only_where_the_layer_needs_it(monkeypatch, layer, locked):
    _fake_layer(monkeypatch, layer)
    assert _threads.must_serialise() == locked
    assert not _lock_taken()
    with _threads.using_threads(1):
        assert numba.get_num_threads() == 1
        assert _lock_taken() == locked
        with _threads.serialised():  # reentrant
            assert _lock_taken() == locked
    assert not _lock_taken()


def test_lock_released_and_threads_restored_after_an_error(monkeypatch):
    _fake_layer(monkeypatch, "workqueue")
    before = numba.get_num_threads()
    with pytest.raises(RuntimeError, match="inside"), _threads.using_threads(1):
        raise RuntimeError("inside")
    assert not _lock_taken()
    assert numba.get_num_threads() == before


def _regions_overlap(n_threads=4):
    """Whether any two of ``n_threads`` threads were inside ``using_threads`` at once
    (seen by a counter: serialised regions can never raise it above one, however the
    threads are scheduled)."""
    inside, overlapped = [0], [False]
    guard = threading.Lock()

    def region():
        with _threads.using_threads(1):
            with guard:
                inside[0] += 1
                overlapped[0] |= inside[0] > 1
            time.sleep(0.02)
            with guard:
                inside[0] -= 1

    workers = [threading.Thread(target=region) for _ in range(n_threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return overlapped[0]


def _regions_all_inside_at_once(n_threads=4):
    """Whether ``n_threads`` threads can all be inside ``using_threads`` together: each
    waits inside for all the others (no race: the barrier waits for slow threads)."""
    barrier = threading.Barrier(n_threads, timeout=120)
    met = []

    def region():
        with _threads.using_threads(1):
            barrier.wait()
            met.append(True)

    workers = [threading.Thread(target=region) for _ in range(n_threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return len(met) == n_threads


def test_serialised_regions_never_overlap(monkeypatch):
    """Under (a stand-in for) workqueue, the regions of several threads run one at a
    time."""
    _fake_layer(monkeypatch, "workqueue")
    assert not _regions_overlap()


def test_regions_run_together_where_the_layer_allows(monkeypatch):
    """Under omp, the regions of several threads are not serialised."""
    _fake_layer(monkeypatch, "omp")
    assert _regions_all_inside_at_once()


# -- one Trainer or Network, two threads --------------------------------------------------

def _inside_fit(trainer, X, y):
    """Start ``trainer.fit`` in a thread and hold it inside, in an epoch callback, until
    the returned ``release`` is called: no race, the test decides every moment."""
    inside, leave, errors = threading.Event(), threading.Event(), []

    def callback(trainer, epoch, logs):
        if epoch == 0:
            inside.set()
            assert leave.wait(60)

    def work():
        try:
            trainer.fit(X, y, epochs=2, callbacks=[callback])
        except Exception as error:
            errors.append(error)
            inside.set()

    worker = threading.Thread(target=work)
    worker.start()
    assert inside.wait(600)  # the first fit may compile kernels

    def release():
        leave.set()
        worker.join()
        if errors:
            raise errors[0]

    return release


def test_a_trainer_used_by_a_second_thread_during_fit_raises(tmp_path):
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((40, 5)), rng.integers(0, 3, 40)
    trainer = Trainer([5, 6, 3], seed=0)
    before = trainer.network.params.copy()
    calls = {
        "fit": lambda: trainer.fit(X, y, epochs=1),
        "partial_fit": lambda: trainer.partial_fit(X, y),
        "evaluate": lambda: trainer.evaluate(X, y),
        "score": lambda: trainer.score(X, y),
        "gradients": lambda: trainer.gradients(X, y),
        "save": lambda: trainer.save(tmp_path / "m.npz"),
        "predict": lambda: trainer.predict(X),
        "predict_proba": lambda: trainer.predict_proba(X),
        "network.forward": lambda: trainer.network.forward(X),
        "network.weights =": lambda: setattr(trainer.network, "weights",
                                             list(trainer.network.weights)),
        "network.initialize": lambda: trainer.network.initialize(0),
        "another trainer of the network": lambda: Trainer(trainer.network).fit(X, y, epochs=1),
    }
    release = _inside_fit(trainer, X, y)
    try:
        during = trainer.network.params.copy()
        for name, call in calls.items():
            with pytest.raises(ConcurrentUseError, match="in use by another thread"):
                call()
            np.testing.assert_array_equal(trainer.network.params, during, err_msg=name)
    finally:
        release()
    assert not np.array_equal(trainer.network.params, before)  # the first fit completed
    assert not (tmp_path / "m.npz").exists()
    # Free again, for any thread; other objects were never blocked.
    trainer.evaluate(X, y)
    Network([5, 3]).forward(X)


def test_the_thread_in_fit_may_use_its_trainer_from_a_callback(tmp_path):
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((40, 5)), rng.integers(0, 3, 40)
    trainer = Trainer([5, 6, 3], seed=0)
    seen = []
    trainer.fit(X, y, epochs=2, callbacks=[lambda t, e, logs: seen.append(
        (t.evaluate(X, y), t.predict(X).shape, t.save(tmp_path / f"{e}.npz")))])
    assert len(seen) == 2 and (tmp_path / "1.npz").exists()


def test_readers_share_a_network_and_exclude_changes():
    """Two threads may run forward on one Network at once; a change waits for no one
    and is refused while another thread reads."""

    net = Network([3, 2], seed=0)
    X = np.ones((2, 3))
    inside, leave = threading.Event(), threading.Event()

    def reader():
        with reading(net, "test"):
            inside.set()
            leave.wait(60)

    worker = threading.Thread(target=reader)
    worker.start()
    inside.wait(60)
    try:
        net.forward(X)  # another reader: fine
        with pytest.raises(ConcurrentUseError, match=r"setting Network\.weights: .*reading it"):
            net.weights = list(net.weights)
        with pytest.raises(ConcurrentUseError):
            Trainer(net, "quadratic").fit(X, X[:, :2], epochs=1)
    finally:
        leave.set()
        worker.join()
    net.weights = list(net.weights)
