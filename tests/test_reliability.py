"""Training never loses the model: divergence, Ctrl-C, checkpoints and resuming, kills."""

import contextlib
import os
import random
import signal
import subprocess
import sys
import textwrap
import threading
import time

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import fastbp
import fastbp.pacing
from fastbp import Trainer, TrainingDiverged
from fastbp.io import ModelFileError
from fastbp.kernels import optimizers as K
from fastbp.kernels.step import update_bounds
from fastbp.kernels.structures import Optim, Rows
from fastbp.optim import OPTIMIZERS

# Every update rule: the registry's optimisers and SGD's momentum variants.
VARIANTS = {name: dict(optimizer=name) for name in OPTIMIZERS}
VARIANTS.update(momentum=dict(optimizer="sgd", momentum=0.9),
                nesterov=dict(optimizer="sgd", momentum=0.9, nesterov=True),
                rmsprop_momentum=dict(optimizer="rmsprop", momentum=0.9))


def data(n=120, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 6)).astype(np.float32)
    return X, (X[:, 0] + X[:, 1] > 0).astype(int) + (X[:, 2] > 0.5)


def make_trainer(**kwargs):
    settings = dict(learning_rate=0.01, batch_size=8, seed=3, optimizer="adam", dropout=0.1)
    settings.update(kwargs)
    return Trainer([6, 12, 3], **settings)


# -- divergence ---------------------------------------------------------------------------

def diverging():
    X, _ = data()
    return Trainer([6, 16, 1], "quadratic", learning_rate=1e5, batch_size=10, seed=0), X, X[:, :1]


def test_divergence_raises_and_keeps_the_last_finite_step():
    trainer, X, Y = diverging()
    with pytest.raises(TrainingDiverged, match=r"epoch 1, step \d+.*lower learning_rate") as info:
        trainer.fit(X, Y, epochs=5)
    assert np.isfinite(trainer.network.params).all()
    assert info.value.epoch == 1 and info.value.step == trainer.optimizer.t + 1
    # The same run again: the same step, the same weights (nothing random about it).
    again, _, _ = diverging()
    with pytest.warns(RuntimeWarning, match="diverged"):
        history = again.fit(X, Y, epochs=5, on_divergence="stop")
    assert again.diverged == {"epoch": info.value.epoch, "step": info.value.step,
                              "loss": info.value.loss}
    assert history == {}  # no epoch was completed
    np.testing.assert_array_equal(again.network.params, trainer.network.params)


def test_divergence_detects_non_finite_costs():
    X, y = data()
    trainer = make_trainer(optimizer="sgd", dropout=0.0)
    trainer.network.weights[0][0, 0] = 1e38  # float32: z overflows to infinity
    with pytest.raises(TrainingDiverged, match="step 1:"):
        trainer.fit(X, y, epochs=1)
    assert trainer.network.weights[0][0, 0] == np.float32(1e38)  # no update was applied


@pytest.mark.filterwarnings("ignore:X looks unscaled")  # inputs up to 1e3, on purpose
@settings(max_examples=40, deadline=None, derandomize=True, database=None)
@given(optimizer=st.sampled_from(sorted(VARIANTS)),
       learning_rate=st.sampled_from([0.5, 3.0, 100.0]),
       weight_decay=st.sampled_from([0.0, 1.0, 30.0, 1e4]),
       dtype=st.sampled_from([np.float32, np.float64]),
       scale=st.sampled_from([1e-3, 1.0, 1e3]))
def test_weights_and_state_stay_finite_whatever_the_optimiser(tmp_path_factory, optimizer,
                                                              learning_rate, weight_decay,
                                                              dtype, scale):
    """Weight decay, momentum, Adam, AdamW and RMSprop move the weights by more than the
    gradient: the guard bounds those updates too, so a run ends with finite weights and
    optimiser state (diverged or not), and a saved trainer loads back."""
    trainer = Trainer([2, 2], learning_rate=learning_rate, weight_decay=weight_decay,
                      batch_size=4, dtype=dtype, seed=0, **VARIANTS[optimizer])
    X = np.full((4, 2), scale)
    with contextlib.suppress(TrainingDiverged):
        trainer.fit(X, [0, 1, 0, 1], epochs=1100)
    assert np.isfinite(trainer.network.params).all()
    for buffer in trainer.optimizer.state or ():
        assert np.isfinite(buffer).all()
    path = tmp_path_factory.mktemp("diverged") / "model.npz"
    trainer.save(path)
    np.testing.assert_array_equal(Trainer.load(path).network.params, trainer.network.params)


@settings(max_examples=500, deadline=None, derandomize=True, database=None)
@given(code=st.sampled_from([K.SGD, K.MOMENTUM, K.NESTEROV, K.ADAM, K.ADAMW, K.RMSPROP]),
       values=st.lists(st.floats(-1e3, 1e3), min_size=16, max_size=16),
       eta=st.sampled_from([1e-3, 0.1, 3.0]), decay=st.sampled_from([0.0, 0.01, 2.0]),
       mu=st.sampled_from([0.0, 0.9]), epsilon=st.sampled_from([1e-300, 1e-8, 1e-3, 1.0]),
       rho=st.sampled_from([0.5, 0.99, 1 - 2**-52]), t=st.integers(1, 5),
       w_scale=st.sampled_from([1.0, 1e6]), g_scale=st.sampled_from([1.0, 1e-170]))
def test_update_bounds_bound_one_update(code, values, eta, decay, mu, epsilon, rho, t, w_scale,
                                        g_scale):
    """The guard's ``update_bounds`` holds for every rule: after one update of a layer
    (one row of 3 weights and a bias), max|params| and max(|state1|, sqrt|state2|) stay
    below the bounds computed from those before it (weights of 1e6 against gradients of
    1e3 and less: the decay's share of the bound then counts; gradients whose squares
    underflow)."""
    values = np.array(values)
    params, grad, state1 = values[:4] * w_scale, values[4:8] * 3 * g_scale, values[8:12] / 10
    state2 = np.abs(values[12:]) * g_scale**2 if K.keeps_squares(code) else np.zeros(4)
    if code == K.SGD:
        state1 = np.zeros(4)
    hyper = np.zeros(K.N_HYPER)
    hyper[[K.ETA, K.WEIGHT_DECAY, K.MU, K.BETA1, K.BETA2, K.EPSILON, K.RHO]] = (
        eta, decay, mu if code != K.SGD else 0.0, 0.9, 0.999, epsilon, rho)
    if code in (K.MOMENTUM, K.NESTEROV) and mu == 0:
        hyper[K.MU] = 0.5
    g_max = np.abs(grad / 3).max()
    w_max = np.abs(params).max()
    s_max = max(np.abs(state1).max(), np.sqrt(state2.max()))
    w_next, s_next = update_bounds(code, hyper, t, g_max, w_max, s_max)
    K.update_rows(Optim(code, hyper, t, grad, state1, state2), Rows(params, 0, 3),
                  Rows(grad, 0, 3), 3, 3, 0, 1, 3, t)
    slack = 1 + 1e-12  # rounding of the update itself
    assert np.abs(params).max() <= w_next * slack
    assert max(np.abs(state1).max(), np.sqrt(state2.max())) <= s_next * slack


def test_weight_decay_divergence_keeps_the_last_finite_step():
    """The example of issue 12: W <- W - 3 (g + W) doubles the weights every step."""
    trainer = Trainer([2, 2], learning_rate=3.0, weight_decay=1.0, batch_size=4, seed=0)
    with pytest.raises(TrainingDiverged, match="last finite step"):
        trainer.fit(np.full((4, 2), 1e-3), [0, 1, 0, 1], epochs=1000)
    assert np.isfinite(trainer.network.params).all()
    assert np.abs(trainer.network.params).max() > 1e20  # it did run until near the limit


def test_bad_divergence_option():
    X, y = data()
    with pytest.raises(ValueError, match="on_divergence must be one of"):
        make_trainer().fit(X, y, on_divergence="ignore")


# -- Ctrl-C -------------------------------------------------------------------------------

@pytest.fixture
def ctrl_c():
    """Python's own Ctrl-C handler for the test. A process started in the background or
    under ``nohup`` inherits SIGINT ignored, and fit then (rightly) leaves Ctrl-C alone;
    the tests are about fit under the usual handler, so they install it themselves and
    put back what was there."""
    if threading.current_thread() is not threading.main_thread():
        pytest.skip("signal handlers can only be installed from the main thread")
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


def test_ctrl_c_stops_after_the_step_under_way(ctrl_c):
    X, y = data(4000)
    trainer = make_trainer(batch_size=4)

    class PressDuringThirdEpoch(fastbp.Callback):  # on_batch_end: one step per call
        def on_batch_end(self, trainer, batch, logs):
            if trainer.optimizer.epoch == 2 and batch == 6:  # as the terminal would,
                signal.raise_signal(signal.SIGINT)           # while step 2007 runs

    with pytest.warns(RuntimeWarning, match="interrupted"):
        history = trainer.fit(X, y, epochs=50, callbacks=[PressDuringThirdEpoch()])
    assert trainer.interrupted
    assert len(history["loss"]) == 2 and len(trainer.history["loss"]) == 2
    steps = trainer.optimizer.t
    assert steps == 2007  # the step under way was finished, and no other
    assert trainer.optimizer.epoch == 2
    assert np.isfinite(trainer.network.params).all()
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # handler restored
    trainer.fit(X, y, epochs=1)  # and training goes on from there
    assert trainer.optimizer.t == steps + 1000 and not trainer.interrupted


def test_ctrl_c_at_an_epoch_end_keeps_that_epoch(ctrl_c):
    X, y = data()

    def press_ctrl_c(trainer, epoch, logs):
        if epoch == 1:
            signal.raise_signal(signal.SIGINT)

    trainer = make_trainer()
    with pytest.warns(RuntimeWarning, match="interrupted"):
        history = trainer.fit(X, y, epochs=5, callbacks=[press_ctrl_c])
    assert len(history["loss"]) == 2 and trainer.optimizer.t == 2 * 15


def test_second_ctrl_c_interrupts_at_once(ctrl_c):
    X, y = data()

    def press_twice(trainer, epoch, logs):
        signal.raise_signal(signal.SIGINT)
        signal.raise_signal(signal.SIGINT)

    with pytest.raises(KeyboardInterrupt):
        make_trainer().fit(X, y, epochs=3, callbacks=[press_twice])
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


# -- checkpoints and resuming -------------------------------------------------------------

class Crash(Exception):
    pass


@pytest.mark.parametrize("patience", [None, 2])
def test_resumed_run_is_bit_identical_to_an_uninterrupted_one(tmp_path, patience):
    X, y = data(200)
    fit_kwargs = dict(epochs=8, validation_split=0.2, patience=patience, monitor="val_loss")
    reference = make_trainer()
    reference_history = reference.fit(X, y, **fit_kwargs)

    checkpoint = tmp_path / "run.npz"

    def crash_after_epoch_3(trainer, epoch, logs):
        if epoch == 3:
            raise Crash

    with pytest.raises(Crash):
        make_trainer().fit(X, y, checkpoint=checkpoint, callbacks=[crash_after_epoch_3],
                           **fit_kwargs)
    resumed = make_trainer(seed=99)  # the checkpoint's state replaces this seed's
    resumed.fit(X, y, checkpoint=checkpoint, resume=checkpoint, **fit_kwargs)
    np.testing.assert_array_equal(resumed.network.params, reference.network.params)
    assert resumed.history == reference.history
    assert len(resumed.history["loss"]) == len(reference_history["loss"])
    # The final checkpoint is the finished run: resuming it trains no further.
    again = make_trainer()
    again.fit(X, y, resume=checkpoint, **fit_kwargs)
    np.testing.assert_array_equal(again.network.params, reference.network.params)


def test_checkpoint_every_n_epochs(tmp_path):
    X, y = data()
    checkpoint = tmp_path / "run.npz"
    written = []

    def look(trainer, epoch, logs):
        written.append(checkpoint.exists() and len(Trainer.load(checkpoint).history["loss"]))

    make_trainer().fit(X, y, epochs=7, checkpoint=checkpoint, checkpoint_every=3,
                       callbacks=[look])
    # Seen at the end of epochs 1..7, before that epoch's own checkpoint is written.
    assert written == [False, False, False, 3, 3, 3, 6]
    assert len(Trainer.load(checkpoint).history["loss"]) == 7  # the end is always written


def test_resume_refuses_another_network(tmp_path):
    X, y = data()
    checkpoint = tmp_path / "run.npz"
    make_trainer().fit(X, y, epochs=1, checkpoint=checkpoint)
    with pytest.raises(ValueError, match=r"layer sizes \(6, 12, 3\).*\(6, 13, 3\)"):
        Trainer([6, 13, 3], seed=0).fit(X, y, epochs=2, resume=checkpoint)
    with pytest.raises(ValueError, match="optimizer 'adam'"):
        make_trainer(optimizer="sgd").fit(X, y, epochs=2, resume=checkpoint)
    (tmp_path / "junk.npz").write_bytes(b"PK\x03\x04 not really")
    with pytest.raises(ModelFileError):
        make_trainer().fit(X, y, epochs=2, resume=tmp_path / "junk.npz")


KILLED_SCRIPT = textwrap.dedent("""
    import os, sys
    import numpy as np
    sys.path.insert(0, {tests!r})
    from test_reliability import data, make_trainer
    checkpoint = sys.argv[1]
    X, y = data(3000)
    trainer = make_trainer(batch_size=2)
    resume = checkpoint if os.path.exists(checkpoint) else None
    print("started", flush=True)
    trainer.fit(X, y, epochs=40, checkpoint=checkpoint, resume=resume)
    np.save(sys.argv[2], trainer.network.params)
""")


def _start(script, checkpoint, result):
    # conftest.py points PYTHONPATH at the fastbp under test: the children load the
    # kernels this process compiled (or compile them once, before any kill; see below).
    return subprocess.Popen([sys.executable, str(script), str(checkpoint), str(result)],
                            stdout=subprocess.PIPE, text=True)


def _kill(child):
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=60)
    child.stdout.close()
    return child.returncode


@pytest.mark.slow
def test_killed_runs_always_leave_a_checkpoint_that_resumes(tmp_path):
    """SIGKILL a training process at random moments while it writes a checkpoint every
    epoch; each time the file on disk loads, and the run resumed after every kill ends
    with the weights of a run that was never killed.

    Nothing depends on how fast the machine is or what was compiled before: the first
    child runs, however long it compiles, until its first checkpoint exists; the kills
    then come at random moments, later when the runs make no progress and earlier when
    a run finishes before its kill (that run is checked and training starts afresh)."""
    X, y = data(3000)
    reference = make_trainer(batch_size=2)
    reference.fit(X, y, epochs=40)  # also compiles, so that the children load the cache
    script = tmp_path / "train.py"
    script.write_text(KILLED_SCRIPT.format(tests=os.path.dirname(__file__)))
    checkpoint, result = tmp_path / "run.npz", tmp_path / "final.npy"

    child = _start(script, checkpoint, result)
    assert child.stdout.readline().strip() == "started"
    for _ in range(6000):  # up to 10 minutes for a first epoch, compilation included
        if checkpoint.exists() or child.poll() is not None:
            break
        time.sleep(0.1)
    assert _kill(child) != 0 and checkpoint.exists(), "no checkpoint after 10 minutes"
    kills, saved_epochs = 1, len(Trainer.load(checkpoint).history["loss"])

    chooser = random.Random(1)
    longest = 0.5
    for _ in range(60):
        child = _start(script, checkpoint, result)
        assert child.stdout.readline().strip() == "started"
        time.sleep(chooser.uniform(0.0, longest))
        if _kill(child) == 0:  # finished before the kill: right, and start afresh
            np.testing.assert_array_equal(np.load(result), reference.network.params)
            checkpoint.unlink()
            saved_epochs, longest = 0, longest / 2
            continue
        kills += 1
        progress = 0
        if checkpoint.exists():
            loaded = Trainer.load(checkpoint)  # never a damaged file
            assert np.isfinite(loaded.network.params).all()
            progress = len(loaded.history["loss"])
        if progress == saved_epochs:
            longest = min(1.3 * longest, 3.0)  # a busy machine: give the next run longer
        saved_epochs = progress
        if kills >= 8 and saved_epochs >= 1:
            break
    assert kills >= 8
    finished = subprocess.run([sys.executable, str(script), str(checkpoint), str(result)],
                              capture_output=True, text=True, timeout=600)
    assert finished.returncode == 0, finished.stderr
    np.testing.assert_array_equal(np.load(result), reference.network.params)
