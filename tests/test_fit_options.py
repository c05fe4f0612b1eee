"""fit's validation, early stopping and callbacks."""

import numpy as np
import pytest

from fastbp import Trainer


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((200, 6)).astype(np.float32)
    y = (X[:, 0] - X[:, 1] > 0).astype(int)
    return X, y


def test_validation_data_and_split_add_to_the_history(data):
    X, y = data
    trainer = Trainer([6, 8, 2], learning_rate=0.2, batch_size=16, seed=0)
    history = trainer.fit(X[:150], y[:150], epochs=3, validation_data=(X[150:], y[150:]))
    assert set(history) == {"loss", "accuracy", "learning_rate", "val_loss", "val_accuracy"}
    assert history["val_loss"][-1] == pytest.approx(trainer.evaluate(X[150:], y[150:])["loss"])
    split = Trainer([6, 8, 2], learning_rate=0.2, batch_size=16, seed=0)
    history_split = split.fit(X, y, epochs=3, validation_split=0.25)
    # the last quarter is held out: the same as passing it explicitly
    assert history_split == history
    np.testing.assert_array_equal(split.network.params, trainer.network.params)


def test_early_stopping_restores_the_best_weights(data):
    X, y = data
    flipped = 1 - y  # validation labels that disagree more the better training goes
    trainer = Trainer([6, 8, 2], learning_rate=0.5, batch_size=16, seed=0)
    snapshots = []
    history = trainer.fit(X, y, epochs=50, validation_data=(X, flipped), patience=2,
                          callbacks=[lambda t, epoch, logs: snapshots.append(
                              t.network.params.copy())])
    n = len(history["val_loss"])
    assert n < 50  # stopped early
    best = int(np.argmin(history["val_loss"]))
    assert n == best + 3  # two epochs without improvement, then the third stops it
    np.testing.assert_array_equal(trainer.network.params, snapshots[best])


def test_callbacks_see_every_epoch_and_can_stop(data):
    X, y = data
    trainer = Trainer([6, 4, 2], batch_size=32, seed=0)
    seen = []

    def stop_after_three(t, epoch, logs):
        seen.append((epoch, sorted(logs)))
        if epoch == 2:
            t.stop_training = True

    history = trainer.fit(X, y, epochs=10, callbacks=[stop_after_three])
    assert [e for e, _ in seen] == [0, 1, 2] and len(history["loss"]) == 3
    assert seen[0][1] == ["accuracy", "learning_rate", "loss"]


@pytest.mark.parametrize("kwargs,error,match", [
    (dict(validation_split=1.0), ValueError, r"validation_split must be in \[0, 1\)"),
    (dict(validation_split="x"), TypeError, "validation_split must be a number"),
    (dict(validation_split=0.001), ValueError, "leaves no samples for validation"),
    (dict(validation_data=(np.zeros((3, 6)),)), TypeError, "validation_data must be a pair"),
    (dict(validation_data=(np.zeros((3, 5)), [0, 1, 0])), ValueError, "X must have 6 columns"),
    (dict(validation_data=(np.zeros((3, 6)), [0, 1, 0]), validation_split=0.2), ValueError,
     "not both"),
    (dict(patience=-1), ValueError, "patience must be >= 0"),
    (dict(patience=2, monitor="val_loss"), ValueError, "needs validation_data"),
    (dict(patience=2, monitor="f1"), ValueError, "monitor must be one of"),
    (dict(callbacks=[1]), TypeError, "callbacks must be callables"),
])
def test_bad_fit_arguments(data, kwargs, error, match):
    with pytest.raises(error, match=match):
        Trainer([6, 4, 2]).fit(*data, epochs=1, **kwargs)
