"""fit's validation, early stopping and callbacks; its per-call verbose and progress; the
warnings and lines where training would otherwise fail quietly."""

import warnings

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
    (dict(callbacks=[1]), TypeError, r"callbacks\[0\] must be a fastbp.Callback or callable; "
                                     r"got 1"),
    (dict(callbacks=3), TypeError, "callbacks must be an iterable of callables"),
    (dict(callbacks=print), TypeError, "callbacks must be an iterable .*a list, even of one"),
    (dict(min_delta="a"), TypeError, "min_delta must be a real number >= 0; got 'a'"),
    (dict(min_delta=[1]), TypeError, "min_delta must be a real number"),
    (dict(min_delta=-1), ValueError, "min_delta must be >= 0"),
    (dict(min_delta=np.nan), ValueError, "min_delta must be >= 0"),
])
def test_bad_fit_arguments(data, kwargs, error, match):
    with pytest.raises(error, match=match):
        Trainer([6, 4, 2]).fit(*data, epochs=1, **kwargs)


def test_no_callbacks(data):
    assert len(Trainer([6, 4, 2]).fit(*data, epochs=2, callbacks=None)["loss"]) == 2


@pytest.mark.parametrize("output,cost", [("softmax", "cross_entropy"), ("sigmoid", "quadratic")])
def test_sample_weights_match_the_weighted_reference(output, cost):
    import naive

    from fastbp import Network

    rng = np.random.default_rng(3)
    X = rng.standard_normal((29, 5))
    y = rng.integers(0, 3, 29)
    w = rng.uniform(0, 3, 29)
    net = Network([5, 7, 3], "tanh", output, dtype=np.float64, seed=0)
    weights = [np.array(W) for W in net.weights]
    biases = [np.array(b) for b in net.biases]
    trainer = Trainer(net, cost, learning_rate=0.2, batch_size=6, seed=4)
    history = trainer.fit(X, y, epochs=1, sample_weight=w)
    order = np.random.default_rng(4).permutation(29)
    weights, biases, loss = naive.train_epoch(weights, biases, net.activations, cost, X,
                                              naive.one_hot(y, 3), order, 6, 0.2, w)
    for l in range(2):
        np.testing.assert_allclose(net.weights[l], weights[l], rtol=1e-10, atol=1e-13)
        np.testing.assert_allclose(net.biases[l], biases[l], rtol=1e-10, atol=1e-13)
    assert history["loss"][0] == pytest.approx(loss, rel=1e-10)


def test_class_weight(data):
    X, y = data
    counts = np.bincount(y)
    balanced = len(y) / (2 * counts)
    a = Trainer([6, 4, 2], seed=0, batch_size=16)
    b = Trainer([6, 4, 2], seed=0, batch_size=16)
    c = Trainer([6, 4, 2], seed=0, batch_size=16)
    a.fit(X, y, epochs=2, class_weight="balanced")
    b.fit(X, y, epochs=2, sample_weight=balanced[y])
    c.fit(X, y, epochs=2, class_weight={0: balanced[0], 1: balanced[1]})
    np.testing.assert_array_equal(a.network.params, b.network.params)
    np.testing.assert_array_equal(a.network.params, c.network.params)
    zero = Trainer([6, 4, 2], seed=0, batch_size=16)
    before = zero.network.params.copy()
    with pytest.warns(RuntimeWarning, match="loss has not moved"):  # rightly so
        zero.fit(X, y, epochs=1, sample_weight=np.zeros(len(y)))
    np.testing.assert_array_equal(zero.network.params, before)  # weight 0: no gradient


@pytest.mark.parametrize("kwargs,error,match", [
    (dict(sample_weight=np.ones(3)), ValueError, r"sample_weight must have shape \(200,\)"),
    (dict(sample_weight=-np.ones(200)), ValueError, "sample_weight must be >= 0"),
    (dict(sample_weight=np.full(200, np.nan)), ValueError, "sample_weight contains NaN"),
    (dict(class_weight="even"), ValueError, "class_weight must be one of"),
    (dict(class_weight=[1, 2]), TypeError, "class_weight must be a dict or 'balanced'"),
    (dict(class_weight={0: -1.0}), ValueError, "class_weight values must be finite"),
])
def test_bad_weights(data, kwargs, error, match):
    with pytest.raises(error, match=match):
        Trainer([6, 4, 2]).fit(*data, epochs=1, **kwargs)


def test_partial_fit_continues_like_fit(data):
    X, y = data
    streamed = Trainer([6, 5, 2], optimizer="adam", learning_rate=0.01, batch_size=10, seed=3)
    for part in (slice(0, 100), slice(100, 200)):
        streamed.partial_fit(X[part], y[part])
    whole = Trainer([6, 5, 2], optimizer="adam", learning_rate=0.01, batch_size=10, seed=3)
    whole.fit(X[:100], y[:100], epochs=1)
    whole.fit(X[100:], y[100:], epochs=1)
    np.testing.assert_array_equal(streamed.network.params, whole.network.params)
    assert streamed.optimizer.t == 20 and len(streamed.history["loss"]) == 2



def test_unscaled_inputs_warn_at_the_callers_line(data):
    X, y = data
    trainer = Trainer([6, 8, 2], batch_size=16, seed=0)
    with pytest.warns(RuntimeWarning, match=r"X looks unscaled: max \|X\| is 255.*divide "
                                            r"pixels by 255.*StandardScaler") as record:
        trainer.fit(np.clip(X * 100, -255, 255), y, epochs=1)
    assert [w.filename for w in record if "unscaled" in str(w.message)] == [__file__]


def test_scaled_inputs_do_not_warn(data):
    X, y = data  # standard normal: max |X| about 3
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        Trainer([6, 8, 2], batch_size=16, seed=0).fit(X, y, epochs=2)
        Trainer([6, 8, 2], batch_size=16, seed=0).fit(X * 5, y, epochs=1)  # max|X| < 20
        rare = X.copy()  # standardised, but a rare feature reaches 40 standard deviations
        rare[0, 0] = 40.0
        Trainer([6, 8, 2], batch_size=16, seed=0).fit(rare, y, epochs=1)


def test_standardised_digits_do_not_warn():
    from sklearn.datasets import load_digits
    from sklearn.preprocessing import StandardScaler

    X, y = load_digits(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    assert np.abs(X).max() > 20  # pixels that are almost always 0
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        Trainer([64, 16, 10], batch_size=64, seed=0).fit(X, y, epochs=1)


def test_an_unmoved_loss_warns(data):
    X, y = data
    trainer = Trainer([6, 8, 2], learning_rate=1e-9, batch_size=16, seed=0)
    with pytest.warns(RuntimeWarning, match="loss has not moved in the first epoch") as rec:
        trainer.fit(X, y, epochs=2)
    assert sum("has not moved" in str(w.message) for w in rec) == 1  # first epoch only
    assert all(w.filename == __file__ for w in rec)


def test_a_moving_loss_and_tiny_data_do_not_warn(data):
    X, y = data
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        Trainer([6, 8, 2], learning_rate=0.1, batch_size=16, seed=0).fit(X, y, epochs=1)
        # four samples in one batch: a single step may move the loss little, no verdict
        Trainer([6, 8, 2], learning_rate=1e-9, batch_size=4, seed=0).fit(X[:4], y[:4],
                                                                            epochs=3)
        # a trainer already trained is not judged again
        trainer = Trainer([6, 8, 2], learning_rate=0.1, batch_size=16, seed=0)
        trainer.fit(X, y, epochs=1)
        trainer.optimizer.learning_rate = trainer.learning_rate = 1e-12
        trainer.fit(X, y, epochs=1)


def test_early_stopping_says_which_epochs(data, capsys):
    X, y = data
    flipped = 1 - y  # validation labels that disagree more the better training goes
    trainer = Trainer([6, 8, 2], learning_rate=0.5, batch_size=16, seed=0, verbose=True)
    history = trainer.fit(X, y, epochs=50, validation_data=(X, flipped), patience=2)
    n, best = len(history["val_loss"]), int(np.argmin(history["val_loss"])) + 1
    assert (trainer.stopped_epoch, trainer.best_epoch) == (n, best)
    out = capsys.readouterr().out
    assert (f"early stopping at epoch {n}: val_loss has not improved by more than 0 for 2 "
            f"epochs; restored the weights of epoch {best}") in out
    # counted over the trainer's life; a fit that runs out its epochs clears them
    trainer.fit(X, y, epochs=1, verbose=False)
    assert trainer.stopped_epoch is None and trainer.best_epoch is None
    assert "early stopping" not in capsys.readouterr().out


def test_fit_overrides_verbose_for_one_call(data, capsys):
    X, y = data
    quiet = Trainer([6, 8, 2], batch_size=16, seed=0)
    quiet.fit(X, y, epochs=1, verbose=True)
    assert "epoch    1  loss" in capsys.readouterr().out
    quiet.fit(X, y, epochs=1)  # back to the constructor's
    assert capsys.readouterr().out == ""
    loud = Trainer([6, 8, 2], batch_size=16, seed=0, verbose=True)
    loud.fit(X, y, epochs=1, verbose=0)
    assert capsys.readouterr().out == ""
    assert loud.verbose is True


def test_fit_overrides_progress_for_one_call(data, monkeypatch):
    import fastbp.callbacks as progress

    shown = []

    class FakeBar:
        def __init__(self, **kwargs):
            shown.append(kwargs["desc"])
            self.n = 0

        def __getattr__(self, name):
            return lambda *args, **kwargs: None

    monkeypatch.setattr(progress, "_tqdm", lambda: FakeBar)
    X, y = data
    trainer = Trainer([6, 8, 2], batch_size=16, seed=0, progress=False)
    trainer.fit(X, y, epochs=1, progress=True)
    assert shown == ["epochs", "batches"]
    trainer.fit(X, y, epochs=1)
    assert shown == ["epochs", "batches"]  # the constructor's False again
    monkeypatch.setattr(progress, "_tqdm", lambda: None)
    with pytest.raises(ImportError, match="progress=True needs tqdm"):
        trainer.fit(X, y, epochs=1, progress=True)
