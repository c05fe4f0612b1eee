"""The thread count chosen by measurement (``threads=None``), driven with made-up timings
so that nothing depends on how busy the machine is."""

import numpy as np
import pytest

import fastbp.pacing
from fastbp import Trainer
from fastbp.pacing import FIRST_INTERVAL, MAX_INTERVAL, WORK_PER_THREAD, Pace, thread_counts


@pytest.fixture
def free(monkeypatch):
    """Set how many cores other processes leave free (all 16 unless a test says)."""
    cores = {"free": 16}
    monkeypatch.setattr(fastbp.pacing, "free_cores", lambda: cores["free"])
    return cores


def run(pace, seconds_per_batch, calls):
    """Feed ``calls`` calls whose time per batch is ``seconds_per_batch[threads]``; return
    the thread counts used, in order."""
    used = []
    for _ in range(calls):
        threads, probe = pace._next()
        pace._record(threads, probe, seconds_per_batch[threads])
        used.append(threads)
    return used


def test_counts_tried():
    assert thread_counts(1) == [1]
    assert thread_counts(2) == [1, 2]
    assert thread_counts(6) == [1, 2, 4, 6]
    assert thread_counts(16) == [1, 2, 4, 8, 16]


def test_a_fixed_count_is_obeyed(free):
    pace = Pace(3, 8)
    assert not pace.adaptive
    assert set(run(pace, {3: 1.0}, 50)) == {3}


def test_every_count_is_tried_and_the_fastest_kept(free):
    pace = Pace(None, 4)
    used = run(pace, {1: 3.0, 2: 1.0, 4: 2.0}, 40)
    assert used[:4] == [1, 1, 2, 4]  # the first call (compiling) is not measured
    assert pace.best == 2
    assert used[4:8] == [2] * 4


def test_losers_are_tried_less_and_less_often(free):
    pace = Pace(None, 2)
    used = run(pace, {1: 1.0, 2: 5.0}, 400)
    trials = [i for i, n in enumerate(used) if n == 2]
    gaps = np.diff(trials)
    assert all(b >= a for a, b in zip(gaps, gaps[1:]))
    assert gaps[-1] == MAX_INTERVAL + 1
    assert used.count(2) < 15


def test_a_change_of_load_is_followed(free):
    pace = Pace(None, 2)
    run(pace, {1: 2.0, 2: 1.0}, 30)
    assert pace.best == 2
    # Another process takes a core: two threads become slow, one stays as it was.
    used = run(pace, {1: 2.0, 2: 20.0}, 3 * FIRST_INTERVAL + 6)
    assert pace.best == 1
    assert used[-1] == 1


def test_counts_above_the_free_cores_are_not_tried(free):
    free["free"] = 1
    pace = Pace(None, 4)
    used = run(pace, {1: 1.0, 2: 0.1, 4: 0.1}, 200)
    assert set(used) == {1}
    free["free"] = 4  # the neighbour is gone: the faster counts are found again
    run(pace, {1: 1.0, 2: 0.5, 4: 0.1}, 2 * MAX_INTERVAL + 10)
    assert pace.best == 4


def test_the_first_count_follows_the_work_of_a_batch(free):
    assert Pace(None, 16, work=1e6).best == 1
    assert Pace(None, 16, work=3 * WORK_PER_THREAD).best == 2
    assert Pace(None, 16, work=1e12).best == 16
    free["free"] = 3
    assert Pace(None, 16, work=1e12).best == 2  # no more than the free cores
    assert Pace(5, 16, work=1e12).best == 5


def test_ties_go_to_fewer_threads(free):
    pace = Pace(None, 2)
    run(pace, {1: 1.0, 2: 0.99}, 20)
    assert pace.best == 1


def test_chosen_counts_give_the_bits_of_one_thread():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((300, 12)).astype(np.float32)
    y = rng.integers(0, 3, 300)
    weights = []
    for threads in (None, 1):
        trainer = Trainer([12, 20, 3], batch_size=4, seed=1, threads=threads)
        trainer.fit(X, y, epochs=3)
        weights.append(trainer.network.params.copy())
    assert np.array_equal(*weights)


def test_threads_none_survives_save_and_load(tmp_path):
    trainer = Trainer([4, 3, 2], seed=0)
    trainer.save(tmp_path / "model.npz")
    assert Trainer.load(tmp_path / "model.npz")._pace.adaptive
    fixed = Trainer([4, 3, 2], seed=0, threads=1)
    fixed.save(tmp_path / "fixed.npz")
    assert Trainer.load(tmp_path / "fixed.npz").threads == 1


def test_a_large_step_starts_on_all_free_cores_and_tries_fewer_later(free):
    pace = Pace(None, 4, work=1e12)
    used = run(pace, {1: 3.0, 2: 2.0, 4: 1.0}, 3 + FIRST_INTERVAL)
    assert used[:3] == [4, 4, 4]  # no trial of fewer threads straight away
    assert pace.best == 4
    used = run(pace, {1: 0.5, 2: 2.0, 4: 1.0}, 2 * MAX_INTERVAL)
    assert pace.best == 1  # but one is tried, and kept when it wins
