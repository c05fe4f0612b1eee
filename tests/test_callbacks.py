"""The Callback interface of fit: the calls in order, every batch, stopping, resuming; plain
functions as before; the built-ins."""

import numpy as np
import pytest

import fastbp
from fastbp import Callback, EarlyStopping, Trainer
from fastbp.callbacks import Checkpoint, History, ProgressBar, Verbose


def data(n=100):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((n, 6)).astype(np.float32)
    return X, (X[:, 0] - X[:, 1] > 0).astype(int)


def make_trainer(**kwargs):
    return Trainer([6, 8, 2], batch_size=16, seed=0, **{"learning_rate": 0.2, **kwargs})


class Recorder(Callback):
    """Writes down every call."""

    def __init__(self):
        self.calls = []

    def on_train_begin(self, trainer, logs):
        self.calls.append(("train_begin", dict(logs)))

    def on_epoch_begin(self, trainer, epoch, logs):
        self.calls.append(("epoch_begin", epoch, dict(logs)))

    def on_batch_end(self, trainer, batch, logs):
        self.calls.append(("batch_end", batch, dict(logs)))

    def on_epoch_end(self, trainer, epoch, logs):
        self.calls.append(("epoch_end", epoch, dict(logs)))

    def on_train_end(self, trainer, logs):
        self.calls.append(("train_end",))


def test_calls_come_in_order_with_every_batch_and_its_loss():
    X, y = data()  # 100 samples in batches of 16: 7 batches, the last of 4
    recorder = Recorder()
    trainer = make_trainer()
    history = trainer.fit(X, y, epochs=2, callbacks=[recorder])
    calls = recorder.calls
    assert calls[0] == ("train_begin", {"epochs": 2, "initial_epoch": 0, "steps": 7})
    assert calls[-1] == ("train_end",)
    per_epoch = 1 + 7 + 1
    assert len(calls) == 2 + 2 * per_epoch
    for epoch in range(2):
        begin, *batches, end = calls[1 + epoch * per_epoch: 1 + (epoch + 1) * per_epoch]
        assert begin[:2] == ("epoch_begin", epoch)
        assert begin[2] == {"learning_rate": history["learning_rate"][epoch]}
        assert [call[:2] for call in batches] == [("batch_end", b) for b in range(7)]
        assert end[:2] == ("epoch_end", epoch)
        assert end[2] == {key: values[epoch] for key, values in history.items()}
        # the epoch's loss is the sample-weighted mean of its batches' losses
        sizes = [16] * 6 + [4]
        losses = [call[2]["loss"] for call in batches]
        assert np.dot(losses, sizes) / 100 == pytest.approx(history["loss"][epoch])
        assert batches[-1][2]["running_loss"] == pytest.approx(history["loss"][epoch])
        accuracies = [call[2]["accuracy"] for call in batches]
        assert np.dot(accuracies, sizes) / 100 == pytest.approx(history["accuracy"][epoch])


def test_every_batch_changes_no_result():
    X, y = data()
    plain = make_trainer()
    plain_history = plain.fit(X, y, epochs=3)
    watched = make_trainer()
    assert watched.fit(X, y, epochs=3, callbacks=[Recorder()]) == plain_history
    np.testing.assert_array_equal(watched.network.params, plain.network.params)


def test_a_callback_stops_training_at_the_end_of_the_epoch():
    class StopInSecondEpoch(Callback):
        def on_batch_end(self, trainer, batch, logs):
            if trainer.optimizer.epoch == 1 and batch == 2:
                trainer.stop_training = True

    X, y = data()
    trainer = make_trainer()
    history = trainer.fit(X, y, epochs=5, callbacks=[StopInSecondEpoch()])
    assert len(history["loss"]) == 2 and trainer.optimizer.t == 2 * 7
    assert trainer.stopped_epoch is None  # not early stopping's doing


def test_plain_functions_and_callbacks_together_in_order():
    seen = []

    class Mark(Callback):
        def on_epoch_end(self, trainer, epoch, logs):
            seen.append(("object", epoch))

    X, y = data()
    make_trainer().fit(X, y, epochs=2, callbacks=[
        lambda trainer, epoch, logs: seen.append(("function", epoch)), Mark()])
    assert seen == [("function", 0), ("object", 0), ("function", 1), ("object", 1)]


def test_resumed_run_tells_its_first_epoch(tmp_path):
    class Crash(Exception):
        pass

    def crash_after_epoch_1(trainer, epoch, logs):
        if epoch == 1:
            raise Crash

    X, y = data()
    checkpoint = tmp_path / "run.npz"
    reference = make_trainer()
    reference.fit(X, y, epochs=4, patience=3)
    with pytest.raises(Crash):
        make_trainer().fit(X, y, epochs=4, patience=3, checkpoint=checkpoint,
                           callbacks=[crash_after_epoch_1])
    # the crash came before epoch 1's checkpoint (user callbacks run first): epoch 0's
    recorder = Recorder()
    resumed = make_trainer()
    resumed.fit(X, y, epochs=4, patience=3, resume=checkpoint, callbacks=[recorder])
    assert recorder.calls[0] == ("train_begin", {"epochs": 4, "initial_epoch": 1, "steps": 7})
    assert [call[1] for call in recorder.calls if call[0] == "epoch_end"] == [1, 2, 3]
    np.testing.assert_array_equal(resumed.network.params, reference.network.params)
    assert resumed.history == reference.history


def test_a_users_early_stopping_and_checkpoint(tmp_path):
    X, y = data()
    flipped = 1 - y  # validation labels that disagree more the better training goes
    by_argument = make_trainer(learning_rate=0.5)
    by_argument.fit(X, y, epochs=30, validation_data=(X, flipped), patience=2)
    stopper = EarlyStopping(2, verbose=True)
    checkpoint = tmp_path / "run.npz"
    by_object = make_trainer(learning_rate=0.5)
    history = by_object.fit(X, y, epochs=30, validation_data=(X, flipped),
                            callbacks=[stopper, Checkpoint(checkpoint, every=100)])
    assert stopper.monitor == "val_loss"  # the default, with validation data
    assert (by_object.stopped_epoch, by_object.best_epoch) == (
        by_argument.stopped_epoch, by_argument.best_epoch) == (
        stopper.stopped_epoch, stopper.best_epoch)
    assert len(history["loss"]) == by_object.stopped_epoch < 30
    np.testing.assert_array_equal(by_object.network.params, by_argument.network.params)
    # the checkpoint is written when training stops, before the best weights are restored
    assert len(Trainer.load(checkpoint).history["loss"]) == by_object.stopped_epoch


def test_builtins_are_importable_and_bad_callbacks_are_refused():
    assert fastbp.Callback is Callback and fastbp.EarlyStopping is EarlyStopping
    for builtin in (History, ProgressBar, Verbose, EarlyStopping, Checkpoint):
        assert issubclass(builtin, Callback)
    X, y = data()
    with pytest.raises(TypeError, match="a list, even of one"):
        make_trainer().fit(X, y, epochs=1, callbacks=Recorder())
    with pytest.raises(ValueError, match="patience must be >= 0"):
        EarlyStopping(-1)
