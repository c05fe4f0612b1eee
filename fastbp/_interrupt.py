"""Ctrl-C during training: finish the step under way, then stop cleanly.

Compiled code cannot be interrupted, and a KeyboardInterrupt raised between two Python
statements of the training loop could leave the optimiser's counters out of step with
the weights. So while ``fit`` runs, SIGINT only raises a flag that the loop reads after
each compiled call; a second Ctrl-C raises KeyboardInterrupt at once, as usual.
"""

import signal
import threading


class DeferredInterrupt:
    """Context manager: ``interrupted`` becomes True at the first SIGINT.

    Only the main thread can install signal handlers; elsewhere (and when another
    handler than Python's default one is installed) it does nothing.
    """

    def __init__(self):
        self.interrupted = False
        self._previous = None

    def _handler(self, signum, frame):
        if self.interrupted:  # the second Ctrl-C: the user means it
            raise KeyboardInterrupt
        self.interrupted = True

    def __enter__(self):
        if (threading.current_thread() is threading.main_thread()
                and signal.getsignal(signal.SIGINT) is signal.default_int_handler):
            self._previous = signal.signal(signal.SIGINT, self._handler)
        return self

    def __exit__(self, *exc):
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
            self._previous = None
        return False
