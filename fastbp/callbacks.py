"""Callbacks: objects that :meth:`fastbp.Trainer.fit` calls as training goes.

``fit`` is a loop over epochs; the history, the progress bar, the verbose table, early
stopping and checkpoints hook into it through one interface, :class:`Callback`, which
users implement too (as in Keras, but each method is given the trainer). ``fit`` calls,
in this order: :class:`History`, :class:`ProgressBar`, :class:`Verbose`, the
``callbacks`` given to it, :class:`EarlyStopping` (``patience``), :class:`Checkpoint`
(``checkpoint``).

Batches run in compiled code, several per call. ``on_batch_end`` is called after each
call, for its last batch; when a callback given to ``fit`` overrides ``on_batch_end``,
every call runs one batch, so that it sees every batch (slower for small batches).
"""

import numbers
import sys
import time

import numpy as np

from ._validation import check_choice, check_int

# Compiled calls per epoch when a bar is shown (the bar moves this many times).
UPDATES_PER_EPOCH = 50
# The bar is drawn at most this often within an epoch (and after its last batch).
DRAW_SECONDS = 0.1
MONITORS = ("loss", "accuracy", "val_loss", "val_accuracy")


class Callback:
    """Base class of the objects ``fit(..., callbacks=[...])`` calls; every method does
    nothing until overridden. ``trainer`` is the :class:`fastbp.Trainer` that trains;
    setting ``trainer.stop_training = True`` stops training at the end of the epoch.

    ``epoch`` counts the epochs of the ``fit`` call from 0 (a resumed call starts at
    ``initial_epoch``); ``batch`` counts the batches of the epoch from 0.
    """

    def on_train_begin(self, trainer, logs):
        """Before the first epoch. ``logs``: ``epochs`` (the call runs epochs
        ``initial_epoch`` to ``epochs - 1``), ``initial_epoch`` (above 0 when resuming
        a checkpoint) and ``steps`` (batches per epoch)."""

    def on_epoch_begin(self, trainer, epoch, logs):
        """Before the epoch's first batch. ``logs``: the epoch's ``learning_rate``."""

    def on_batch_end(self, trainer, batch, logs):
        """After a batch's update. ``logs``: the batch's ``loss`` (its mean cost, taken
        before the update), ``accuracy`` (classifiers) and ``running_loss`` (the mean
        cost of the epoch's samples so far)."""

    def on_epoch_end(self, trainer, epoch, logs):
        """After the epoch. ``logs``: the history's entries of the epoch (``loss``,
        ``learning_rate``, and as they apply ``accuracy``, ``val_loss``,
        ``val_accuracy``)."""

    def on_train_end(self, trainer, logs):
        """After the last epoch, also when training stopped early, diverged or was
        interrupted (``trainer.diverged``, ``trainer.interrupted``), not when an error
        was raised. ``logs``: the last epoch's (without ``loss`` when that epoch did not
        complete; empty when no epoch ran)."""


def _overrides_batch_end(callback):
    return type(callback).on_batch_end is not Callback.on_batch_end


class _EpochFunction(Callback):
    """A plain function called as ``function(trainer, epoch, logs)`` after every epoch."""

    def __init__(self, function):
        self.function = function

    def on_epoch_end(self, trainer, epoch, logs):
        self.function(trainer, epoch, logs)


def check_callbacks(callbacks):
    """``fit``'s ``callbacks`` as a list of :class:`Callback` (None: none)."""
    expected = ("an iterable of callables called as callback(trainer, epoch, logs), or of "
                "fastbp.Callback objects")
    if callbacks is None:
        return []
    if callable(callbacks) or isinstance(callbacks, (str, bytes, Callback)):
        raise TypeError(f"callbacks must be {expected} (a list, even of one); got "
                        f"{callbacks!r}")
    try:
        callbacks = list(callbacks)
    except TypeError:
        raise TypeError(f"callbacks must be {expected}; got {callbacks!r}") from None
    for i, callback in enumerate(callbacks):
        if not (isinstance(callback, Callback) or callable(callback)):
            raise TypeError(f"callbacks[{i}] must be a fastbp.Callback or callable; got "
                            f"{callback!r}")
    return [callback if isinstance(callback, Callback) else _EpochFunction(callback)
            for callback in callbacks]


class CallbackList:
    """The callbacks of one ``fit`` call, called in order; builds the batches' logs.

    ``n_samples`` and ``batch_size`` cut the epoch into batches; ``accuracy``: whether
    the batches' logs hold it.
    """

    def __init__(self, callbacks, n_samples, batch_size, accuracy):
        self.callbacks = [callback for callback in callbacks if callback is not None]
        self.n, self.cap, self.accuracy = n_samples, batch_size, accuracy
        self.batch_listeners = [cb for cb in self.callbacks if _overrides_batch_end(cb)]
        self.every_batch = any(not getattr(cb, "_batch_end_per_call", False)
                               for cb in self.batch_listeners)
        self.cost_sum = self.seen = 0

    def batches_per_call(self, n_batches):
        """The most batches a compiled call may run."""
        if self.every_batch:
            return 1
        return min([n_batches] + [cb.batches_per_call(n_batches) for cb in self.callbacks
                                  if isinstance(cb, ProgressBar)])

    def on_train_begin(self, trainer, logs):
        for callback in self.callbacks:
            callback.on_train_begin(trainer, logs)

    def on_epoch_begin(self, trainer, epoch, logs):
        self.cost_sum = self.seen = 0
        for callback in self.callbacks:
            callback.on_epoch_begin(trainer, epoch, logs)

    def on_batches_end(self, trainer, b0, b1, batch_cost, batch_correct):
        """After a compiled call ran batches ``b0:b1``: ``on_batch_end`` for the last."""
        if not self.batch_listeners:
            return
        self.cost_sum += float(batch_cost[b0:b1].sum())
        self.seen = min(b1 * self.cap, self.n)
        m = min(self.cap, self.n - (b1 - 1) * self.cap)
        logs = {"loss": float(batch_cost[b1 - 1] / m)}
        if self.accuracy:
            logs["accuracy"] = float(batch_correct[b1 - 1] / m)
        logs["running_loss"] = self.cost_sum / self.seen
        for callback in self.batch_listeners:
            callback.on_batch_end(trainer, b1 - 1, logs)

    def on_epoch_end(self, trainer, epoch, logs):
        for callback in self.callbacks:
            callback.on_epoch_end(trainer, epoch, logs)

    def on_train_end(self, trainer, logs):
        for callback in self.callbacks:
            callback.on_train_end(trainer, logs)


class History(Callback):
    """Records each epoch's logs: in ``history`` (this ``fit`` call's, which ``fit``
    returns) and in ``trainer.history`` (over the trainer's life)."""

    def on_train_begin(self, trainer, logs):
        self.history = {}

    def on_epoch_end(self, trainer, epoch, logs):
        for key, value in logs.items():
            self.history.setdefault(key, []).append(value)
            trainer.history.setdefault(key, []).append(value)


def _tqdm():
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return None
    return tqdm


_bars_shown = []  # the bars of the fit calls under way, the latest last


def write(line):
    """Print a line during training without breaking a progress bar that is shown."""
    if _bars_shown:
        _bars_shown[-1].write(line)
    else:
        print(line, flush=True)


class ProgressBar(Callback):
    """Bars over epochs and over the batches of each epoch with the running loss, drawn
    with tqdm (an optional dependency), on rank 0 only.

    With a bar, the epoch runs as some ``UPDATES_PER_EPOCH`` compiled calls instead of
    one, and ``on_batch_end`` is enough after each call (it does not cut the calls at
    every batch); without a bar nothing changes.

    Parameters
    ----------
    enabled : bool or None
        None: a bar when standard error is a terminal and tqdm is installed.
    """

    _batch_end_per_call = True

    @staticmethod
    def check(enabled):
        if enabled and _tqdm() is None:
            raise ImportError("progress=True needs tqdm: pip install tqdm (or pass "
                              "progress=False)")

    def __init__(self, enabled=None):
        self.check(enabled)
        self.enabled = enabled
        self.epochs_bar = self.batches_bar = None

    def on_train_begin(self, trainer, logs):
        enabled = self.enabled
        if enabled is None:
            enabled = _tqdm() is not None and sys.stderr.isatty()
        self.close()
        if enabled and trainer.comm.rank == 0 and logs["epochs"] > logs["initial_epoch"]:
            tqdm = _tqdm()
            self.epochs_bar = tqdm(total=logs["epochs"] - logs["initial_epoch"],
                                   desc="epochs", unit="epoch", position=0)
            self.batches_bar = tqdm(total=logs["steps"], desc="batches", unit="batch",
                                    position=1, leave=False)
            _bars_shown.append(self)
        self.steps = logs["steps"]

    def batches_per_call(self, n_batches):
        """The most batches to run between two updates of the bar."""
        if self.batches_bar is None:
            return n_batches
        return max(1, -(-n_batches // UPDATES_PER_EPOCH))

    def on_epoch_begin(self, trainer, epoch, logs):
        if self.batches_bar is not None:
            self.batches_bar.reset(total=self.steps)
            self.drawn = 0.0

    def on_batch_end(self, trainer, batch, logs):
        now = time.monotonic()
        if self.batches_bar is not None and (batch + 1 == self.steps
                                             or now - self.drawn >= DRAW_SECONDS):
            self.drawn = now
            self.batches_bar.n = batch + 1
            self.batches_bar.set_postfix(loss=f"{logs['running_loss']:.4f}", refresh=False)
            self.batches_bar.refresh()

    def on_epoch_end(self, trainer, epoch, logs):
        if self.epochs_bar is not None:
            shown = {key: f"{value:.4f}" for key, value in logs.items() if key in MONITORS}
            self.epochs_bar.set_postfix(shown, refresh=False)
            self.epochs_bar.update(1)

    def on_train_end(self, trainer, logs):
        self.close()

    def write(self, line):
        """Print a line without breaking the bars."""
        self.epochs_bar.write(line)

    def close(self):
        """Remove the bars (``fit`` calls this however training ends)."""
        for bar in (self.batches_bar, self.epochs_bar):
            if bar is not None:
                bar.close()
        if self in _bars_shown:
            _bars_shown.remove(self)
        self.epochs_bar = self.batches_bar = None


class Verbose(Callback):
    """Prints a line per epoch on rank 0: the epoch (counted over the trainer's life),
    ``loss`` and as they apply ``accuracy``, ``val_loss``, ``val_accuracy``."""

    def on_epoch_end(self, trainer, epoch, logs):
        if trainer.comm.rank == 0:
            write(self.line(len(trainer.history["loss"]), logs))

    @staticmethod
    def line(epoch, logs):
        line = f"epoch {epoch:4d}  loss {logs['loss']:.6f}"
        for key in MONITORS[1:]:
            if key in logs:
                line += f"  {key} {logs[key]:.4f}"
        return line


class EarlyStopping(Callback):
    """Stops training when ``monitor`` has not improved by more than ``min_delta`` for
    ``patience`` epochs (Keras's rule); with ``restore_best_weights``, the weights of the
    best epoch are put back when training ends (unless it diverged or was interrupted).

    Parameters
    ----------
    patience : int or None
        None: watch, never stop.
    monitor : {"loss", "accuracy", "val_loss", "val_accuracy"} or None
        The accuracies are maximised. None: ``val_loss`` when there is validation data,
        ``loss`` otherwise.
    min_delta : float >= 0
    restore_best_weights : bool
    verbose : bool
        Print (on rank 0) a line when training stops, or when the "adaptive" learning-rate
        schedule lowers the rate instead (then training goes on).

    Attributes
    ----------
    best : float
        The best monitored value times ``sign`` (-1 for the accuracies, 1 otherwise).
    best_epoch, stopped_epoch : int or None
        Counted from 1 over the trainer's life, as ``Trainer.best_epoch`` and
        ``Trainer.stopped_epoch``, which this sets when it stops.
    waited : int
        Epochs since the last improvement.
    """

    def __init__(self, patience, monitor=None, min_delta=0.0, restore_best_weights=True,
                 verbose=False):
        self.patience = None if patience is None else check_int(patience, "patience", minimum=0)
        self.monitor = None if monitor is None else check_choice(monitor, set(MONITORS),
                                                                 "monitor")
        if isinstance(min_delta, (bool, np.bool_)) or not isinstance(min_delta, numbers.Real):
            raise TypeError(f"min_delta must be a real number >= 0; got {min_delta!r}")
        self.min_delta = float(min_delta)
        if not self.min_delta >= 0:
            raise ValueError(f"min_delta must be >= 0; got {min_delta}")
        self.restore_best_weights = bool(restore_best_weights)
        self.verbose = bool(verbose)
        self._reset()
        self._resumed = False

    def _reset(self):
        self.best = np.inf
        self.best_params = None
        self.best_epoch = self.stopped_epoch = None
        self.waited = 0

    def check_monitor(self, has_validation):
        """Choose the default monitor; a ``val_`` one needs validation data."""
        if self.monitor is None:
            self.monitor = "val_loss" if has_validation else "loss"
        if self.monitor.startswith("val_") and not has_validation and self.patience is not None:
            raise ValueError(f"monitor={self.monitor!r} needs validation_data or "
                             f"validation_split")

    @property
    def sign(self):  # minimise sign * value
        return -1.0 if self.monitor.endswith("accuracy") else 1.0

    def on_train_begin(self, trainer, logs):
        if not self._resumed:
            self._reset()
        self._resumed = False

    def on_epoch_end(self, trainer, epoch, logs):
        if self.patience is None:
            return
        if self.monitor is None:
            self.check_monitor("val_loss" in logs)
        epoch = len(trainer.history["loss"])  # counted over the trainer's life
        if not self._update(logs, trainer.network, epoch):
            return
        if trainer.optimizer.plateau():  # "adaptive": a lower rate, not a stop
            self.waited = 0
            self._say(trainer, f"{self.monitor} has not improved for {self.patience} epochs: "
                               f"learning rate "
                               f"{trainer.optimizer.learning_rate_at(trainer.optimizer.epoch):.6g}")
            return
        trainer.stopped_epoch = self.stopped_epoch = epoch
        trainer.best_epoch = self.best_epoch
        trainer.stop_training = True
        self._say(trainer, self.describe(epoch))

    def on_train_end(self, trainer, logs):
        if trainer.diverged is None and not trainer.interrupted:
            self.restore(trainer.network)

    def _say(self, trainer, line):
        if self.verbose and trainer.comm.rank == 0:
            write(line)

    def _update(self, logs, network, epoch):
        """Record epoch ``epoch`` (counted from 1); True when training should stop."""
        if self.monitor not in logs:
            raise ValueError(f"monitor={self.monitor!r} is not measured here: the history "
                             f"has {sorted(logs)}")
        value = self.sign * logs[self.monitor]
        if value < self.best - self.min_delta:
            self.best, self.waited, self.best_epoch = value, 0, epoch
            if self.restore_best_weights:
                self.best_params = network.params.copy()
            return False
        self.waited += 1
        return self.waited >= self.patience  # as Keras: patience epochs without improvement

    def describe(self, stopped_epoch):
        """The line printed when training stops early."""
        kept = (f"restored the weights of epoch {self.best_epoch}"
                if self.best_params is not None else
                f"kept the last weights (the best {self.monitor} was at epoch "
                f"{self.best_epoch})")
        return (f"early stopping at epoch {stopped_epoch}: {self.monitor} has not improved "
                f"by more than {self.min_delta:g} for {self.patience} epochs; {kept} "
                f"({self.monitor} {self.sign * self.best:.6f})")

    def restore(self, network):
        """Put the best epoch's weights back, when they were kept."""
        if self.best_params is not None:
            network.params[...] = self.best_params

    def state(self):
        """Entries for a checkpoint."""
        state = {"stopper_best": self.best, "stopper_waited": self.waited}
        if self.best_epoch is not None:
            state["stopper_best_epoch"] = self.best_epoch
        if self.best_params is not None:
            state["stopper_best_params"] = self.best_params
        return state

    def restore_state(self, saved, network):
        """From a checkpoint's checked entries (a :class:`fastbp._saved_state.SavedState`);
        the next ``fit`` call continues from them."""
        if "stopper_best" in saved:
            self.best = saved.real("stopper_best", -np.inf, np.inf)
            self.waited = saved.integer("stopper_waited")
            self.best_epoch = saved.integer("stopper_best_epoch", 1, default=None)
        if "stopper_best_params" in saved:
            self.best_params = saved.floats("stopper_best_params", network.params.shape,
                                            network.dtype).copy()
        self._resumed = True


class Checkpoint(Callback):
    """Writes the whole training state (as ``Trainer.save``, plus the ``fit`` call's
    progress and ``early_stopping``'s state) to ``path`` every ``every`` epochs and when
    training ends, atomically, on rank 0; ``fit(..., resume=path)`` continues from it."""

    def __init__(self, path, every=1, early_stopping=None):
        self.path = path
        self.every = check_int(every, "checkpoint_every", minimum=1)
        self.early_stopping = early_stopping

    def on_train_begin(self, trainer, logs):
        self.epochs = logs["epochs"]

    def on_epoch_end(self, trainer, epoch, logs):
        finished = trainer.stop_training or epoch + 1 == self.epochs
        if trainer.comm.rank == 0 and (finished or (epoch + 1) % self.every == 0):
            trainer._save(self.path, run={"epoch": epoch + 1, "epochs": self.epochs,
                                          "finished": finished}, stopper=self.early_stopping)
