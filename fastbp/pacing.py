"""How an epoch is cut into compiled calls, and how many threads each call runs on.

Results are bit-identical for any thread count, so the count may change from one call
to the next. With ``threads=None`` it is chosen by measurement while training: on a
small step, or on a machine whose cores other processes are using, one thread can be
several times faster than all of them, because every parallel region waits for its
slowest (possibly descheduled) thread. The counts tried are 1, 2, 4, ... up to the
cores; each is measured on a short call, the fastest per batch is used, and the
others are tried again now and then on a short call, less and less often while they
keep losing (so that a loser costs little), at once more often when one wins (so
that a change of load on the machine is followed).
"""

import os
import time
from collections import deque

from .comm import usable_cores

# Calls last about this long (Ctrl-C is answered between calls, the bar moves).
CALL_SECONDS = 0.25
# A trial of another thread count lasts about this long (at least one batch).
PROBE_SECONDS = 0.005
# The count a trainer starts from: a thread per this many floating-point operations of
# a batch (a barrier costs microseconds; this is some 50 us of work), as many as are free.
WORK_PER_THREAD = 4e6
FIRST_INTERVAL = 4  # calls before a loser is tried again; doubled each time it loses
MAX_INTERVAL = 64
TIE = 0.02  # a count within 2% of the fastest loses to fewer threads


def thread_counts(most):
    """The counts tried: 1, 2, 4, ... below ``most``, and ``most``."""
    counts = []
    n = 1
    while n < most:
        counts.append(n)
        n *= 2
    return counts + [most]


def threads_for(work, per_thread, most):
    """Threads for a parallel region of ``work``: one per ``per_thread`` of it, at most
    ``most`` and, above one, the cores free now: a small region on many threads, or one on
    a busy machine, waits longer for its threads than it works."""
    wanted = min(most, max(1, int(work // per_thread)))
    return wanted if wanted == 1 else min(wanted, free_cores())


def busy_cores_of_others():
    """Threads of other processes running or waiting for a core now (Linux: the
    system's ``procs_running`` less this process's running threads), or None where
    that cannot be read."""
    try:
        with open("/proc/stat", "rb") as stat:
            running = next(int(line.split()[1]) for line in stat
                           if line.startswith(b"procs_running"))
        own = 0
        for task in os.listdir("/proc/self/task"):
            with open(f"/proc/self/task/{task}/stat", "rb") as stat:
                own += stat.read().rsplit(b")", 1)[1].split()[0] == b"R"
        return max(0, running - own)
    except (OSError, ValueError, IndexError, StopIteration):
        return None


def free_cores():
    """Cores this process may use that no other process is using now (at least 1)."""
    busy = busy_cores_of_others()
    return max(1, usable_cores() - (busy or 0))


# A pass over memory (an input check) gets a thread per this many elements, at most.
ELEMENTS_PER_THREAD = 1 << 20


def threads_for_pass(n_elements, most):
    """Threads for one parallel pass over ``n_elements`` at memory speed: each gets about
    ``ELEMENTS_PER_THREAD`` (a fraction of a millisecond) to do (see ``threads_for``)."""
    return threads_for(n_elements, ELEMENTS_PER_THREAD, most)


class Pace:
    """Yields ``(b0, b1, threads)``: the batches ``b0:b1`` of an epoch to run in one
    compiled call, and on how many threads; times each call when the caller asks for
    the next one.

    Parameters
    ----------
    threads : int or None
        A fixed count, or None to choose among ``thread_counts(most)`` by measurement.
    most : int
        The most threads a call may use.
    work : float
        Floating-point operations of a batch: the first calls run on a thread per
        ``WORK_PER_THREAD`` of them, up to the cores free then, before anything is
        measured.
    """

    def __init__(self, threads, most, work=0.0):
        self.counts = [threads] if threads is not None else thread_counts(most)
        self.best = self.counts[0]
        self.seconds = {n: deque(maxlen=3) for n in self.counts}  # per batch, recent calls
        self.interval = FIRST_INTERVAL
        self.since_probe = 0
        self.turn = 0  # which other count the next probe tries
        self.tried = set()  # counts measured, or passed over for want of free cores
        self.warm = False
        if self.adaptive:
            wanted = threads_for(work, WORK_PER_THREAD, most)
            self.best = max(n for n in self.counts if n <= wanted)
            # Fewer threads than the work calls for are tried later, as losers are: a
            # large step on too few threads costs most when a fit is short.
            self.tried.update(n for n in self.counts if n < self.best)

    @property
    def adaptive(self):
        return len(self.counts) > 1

    def _estimate(self, n):
        """Seconds per batch on ``n`` threads: the median of the recent calls (each an
        average over its batches), so that a count whose batches are usually slow
        but sometimes fast, as on a busy machine, is seen as slow."""
        recent = sorted(self.seconds[n])
        return recent[len(recent) // 2] if recent else None

    def _next(self):
        """(threads, probe) for the next call."""
        if not self.adaptive or not self.warm:
            return self.best, False
        untried = [n for n in self.counts if n not in self.tried]
        if not untried and self.since_probe < self.interval:
            return self.best, False
        # A count above the free cores is not tried: its parallel regions would wait for
        # threads that other processes keep off the cores (milliseconds each).
        free = free_cores()
        if untried:
            self.tried.add(untried[0])
            if untried[0] <= max(free, self.best):
                return untried[0], True
        else:
            others = [n for n in self.counts if n != self.best]
            self.turn = (self.turn + 1) % len(others)
            if others[self.turn] <= max(free, self.best):
                return others[self.turn], True
        self.since_probe = 0  # a trial skipped counts as one lost
        self.interval = min(2 * self.interval, MAX_INTERVAL)
        return self.best, False

    def _record(self, threads, probe, seconds_per_batch):
        if not self.warm:  # the first call also compiles or loads the kernels
            self.warm = True
            return
        self.seconds[threads].append(seconds_per_batch)
        measured = {n: self._estimate(n) for n in self.counts if self.seconds[n]}
        fastest = min(measured.values())
        best = min(n for n, s in measured.items() if s <= fastest * (1 + TIE))
        if probe:
            self.since_probe = 0
            if best == threads and threads != self.best:
                self.interval = FIRST_INTERVAL
            elif threads != best:
                self.interval = min(2 * self.interval, MAX_INTERVAL)
        else:
            self.since_probe += 1
            if seconds_per_batch > 1.5 * measured[threads]:
                self.interval = FIRST_INTERVAL  # slower than usual: the load has changed
        self.best = best

    def calls(self, n_batches, cap):
        """The calls of an epoch of ``n_batches``, each of at most ``cap`` batches."""
        b0 = 0
        while b0 < n_batches:
            threads, probe = self._next()
            per_batch = self._estimate(threads)
            if not self.warm or per_batch is None:  # the first call, or a first trial
                size = 1
            else:
                size = max(1, int((PROBE_SECONDS if probe else CALL_SECONDS) / per_batch))
            b1 = min(b0 + min(size, cap), n_batches)
            started = time.perf_counter()
            yield b0, b1, threads
            self._record(threads, probe, (time.perf_counter() - started) / (b1 - b0))
            b0 = b1

    def describe(self):
        """The counts measured so far: {threads: seconds per batch (``_estimate``)}."""
        return {n: self._estimate(n) for n in self.counts if self.seconds[n]}
