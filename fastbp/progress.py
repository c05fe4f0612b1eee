"""The progress bar of ``Trainer.fit``: epochs, and the batches of each, with the running loss.

Drawn with tqdm, an optional dependency. Compiled code cannot call back into Python, so
with a bar the epoch runs as a few compiled calls of several batches each instead of
one; without a bar nothing changes.
"""

import sys

# Compiled calls per epoch when a bar is shown (the bar moves this many times).
UPDATES_PER_EPOCH = 50


def _tqdm():
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return None
    return tqdm


class Progress:
    """Bars over epochs and batches, or nothing.

    Parameters
    ----------
    enabled : bool or None
        None: a bar when standard error is a terminal and tqdm is installed.
    epochs, n_batches : int
        Epochs of the run and batches per epoch.
    """

    @staticmethod
    def check(enabled):
        if enabled and _tqdm() is None:
            raise ImportError("progress=True needs tqdm: pip install tqdm (or pass "
                              "progress=False)")

    def __init__(self, enabled, epochs, n_batches):
        if enabled is None:
            enabled = _tqdm() is not None and sys.stderr.isatty()
        self.epochs_bar = self.batches_bar = None
        if enabled and epochs:
            tqdm = _tqdm()
            self.epochs_bar = tqdm(total=epochs, desc="epochs", unit="epoch", position=0)
            self.batches_bar = tqdm(total=n_batches, desc="batches", unit="batch",
                                    position=1, leave=False)

    def batches_per_update(self, n_batches):
        """The most batches to run between two updates of the bar."""
        if self.batches_bar is None:
            return n_batches
        self.batches_bar.reset(total=n_batches)
        return max(1, -(-n_batches // UPDATES_PER_EPOCH))

    def batches_done(self, b, running_loss):
        if self.batches_bar is not None:
            self.batches_bar.n = b
            self.batches_bar.set_postfix(loss=f"{running_loss:.4f}", refresh=False)
            self.batches_bar.refresh()

    def epoch_done(self, logs):
        if self.epochs_bar is not None:
            shown = {key: f"{value:.4f}" for key, value in logs.items()
                     if key in ("loss", "accuracy", "val_loss", "val_accuracy")}
            self.epochs_bar.set_postfix(shown, refresh=False)
            self.epochs_bar.update(1)

    def write(self, line):
        """Print a line without breaking the bars."""
        if self.epochs_bar is not None:
            self.epochs_bar.write(line)
        else:
            print(line, flush=True)

    def close(self):
        for bar in (self.batches_bar, self.epochs_bar):
            if bar is not None:
                bar.close()
        self.epochs_bar = self.batches_bar = None
