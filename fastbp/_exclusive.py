"""One Trainer or Network, one thread at a time: a second thread gets a clear error.

A Trainer's workspaces, optimiser state and shuffling generator, and a Network's
parameters while it trains, belong to one call at a time: two threads training one
Trainer would interleave their steps and silently give other weights on every run.
Waiting for the other thread would hide that mistake, so the second caller gets
:class:`ConcurrentUseError` at once (nothing is changed by the refused call).

Uses are "changing" (training, assigning weights, a Trainer's own methods) or
"reading" (a Network's forward pass): readers may share an object with each other,
never with a thread that changes it. The thread already using an object may use it
again (a callback of ``fit`` may call ``evaluate`` or ``save``).
"""

import functools
import threading
import weakref
from collections import Counter
from contextlib import contextmanager

__all__ = ["ConcurrentUseError", "changing", "reading", "trainer_method"]


class ConcurrentUseError(RuntimeError):
    """A Trainer or Network was used by a second thread while another one used it."""


class _Users:
    """Which threads use one object now, and how."""

    def __init__(self):
        self.changer = None     # the thread changing the object, if any
        self.depth = 0          # its nested uses
        self.readers = Counter()  # thread -> nested reading uses


_GUARD = threading.Lock()  # held only to look at or update a _Users
_USERS = weakref.WeakKeyDictionary()  # object -> _Users (objects stay picklable)


@contextmanager
def _use(obj, what, change):
    me = threading.get_ident()
    with _GUARD:
        users = _USERS.get(obj)
        if users is None:
            users = _USERS[obj] = _Users()
        others_read = any(thread != me for thread in users.readers)
        if users.changer not in (None, me) or (change and others_read):
            kind = type(obj).__name__
            doing = "reading it" if users.changer in (None, me) else "changing it"
            raise ConcurrentUseError(
                f"{what}: this {kind} is in use by another thread ({doing}); one {kind} must "
                f"not be used by two threads at once: give each thread its own (e.g. "
                f"copy.deepcopy), or wait for the other to finish")
        if change:
            users.changer, users.depth = me, users.depth + 1
        else:
            users.readers[me] += 1
    try:
        yield
    finally:
        with _GUARD:
            if change:
                users.depth -= 1
                if users.depth == 0:
                    users.changer = None
            else:
                users.readers[me] -= 1
                if users.readers[me] == 0:
                    del users.readers[me]


def changing(obj, what):
    """Context: ``obj`` is changed (or its private buffers used) by this thread."""
    return _use(obj, what, change=True)


def reading(obj, what):
    """Context: ``obj`` is read by this thread; other readers are welcome."""
    return _use(obj, what, change=False)


def trainer_method(changes_network):
    """Decorator of a Trainer method that uses the Trainer's own buffers, state or
    generator, and changes (``changes_network``) or reads its network."""
    def decorate(method):
        @functools.wraps(method)
        def guarded(self, *args, **kwargs):
            what = f"{type(self).__name__}.{method.__name__}"
            network_use = changing if changes_network else reading
            with changing(self, what), network_use(self.network, what):
                return method(self, *args, **kwargs)

        return guarded

    return decorate
