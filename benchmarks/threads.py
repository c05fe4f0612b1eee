"""The default thread count (``threads=None``, chosen by measurement) against fixed counts,
on a quiet machine or beside busy neighbours.

    python benchmarks/threads.py                      # S M32 M128 L XL digits, quiet
    python benchmarks/threads.py --busy 1             # one CPU-bound neighbour process
    python benchmarks/threads.py --workloads S digits --repeats 7

Every fixed count of ``pacing.thread_counts`` and the default train the same workload
for ``--epochs`` epochs per ``fit`` call (a fresh trainer each time, so the default
starts from nothing measured, as a user's first ``fit`` does), in rounds; the table
gives the median seconds per call and the default's speed relative to the best fixed
count and to one thread (each round runs the settings in another order, so that none
always follows the same one). ``digits`` is the main job (``python -m fastbp``: 64-128-10,
batch 16, 30 epochs on 1,347 images).
"""

import argparse
import os
import statistics
import subprocess
import sys
import time

try:  # imported by asv as part of the benchmarks package
    from .common import WORKLOADS, fashion_like, make_trainer
except ImportError:  # run as a script
    from common import WORKLOADS, fashion_like, make_trainer
from fastbp import Trainer
from fastbp._threads import max_threads
from fastbp.pacing import thread_counts

EPOCHS = {"S": 3, "M32": 3, "M128": 3, "L": 2, "XL": 1, "digits": 30}


def runner(name, threads):
    """A function that trains a fresh trainer for the workload's epochs."""
    if name == "digits":
        from fastbp.datasets import load_digits, train_test_split

        X, y = load_digits()
        X, _, y, _ = train_test_split(X, y, test_size=0.25, seed=0)

        def run():
            Trainer([64, 128, 10], batch_size=16, learning_rate=0.1, threads=threads,
                    seed=0).fit(X, y, epochs=EPOCHS[name])
        return run
    X, y = fashion_like(WORKLOADS[name].n_samples)

    def run():
        make_trainer(name, threads, learning_rate=0.01).fit(X, y, epochs=EPOCHS[name])
    return run


def neighbours(count):
    """``count`` CPU-bound processes that end when this one does."""
    code = ("import os, sys\nparent = int(sys.argv[1])\nwhile True:\n"
            "    for _ in range(1_000_000): pass\n"
            "    try: os.kill(parent, 0)\n    except OSError: break\n")
    return [subprocess.Popen([sys.executable, "-c", code, str(os.getpid())])
            for _ in range(count)]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workloads", nargs="*", default=["S", "M32", "M128", "L", "XL",
                                                            "digits"],
                        choices=list(WORKLOADS) + ["digits"])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--busy", type=int, default=0, help="CPU-bound neighbour processes")
    args = parser.parse_args()
    counts = thread_counts(max_threads())
    settings = counts + [None]
    busy = neighbours(args.busy)
    try:
        print(f"{os.cpu_count()} cores, {args.busy} busy neighbour(s); median of "
              f"{args.repeats} fit calls, in rounds")
        header = "".join(f"{f'{n} thr':>10}" for n in counts)
        print(f"{'workload':<10}{header}{'default':>10}{'vs best':>9}{'vs 1':>7}")
        for name in args.workloads:
            runs = {t: runner(name, t) for t in settings}
            for run in runs.values():  # compile, and warm the caches
                run()
            times = {t: [] for t in settings}
            for r in range(args.repeats):  # each round in another order: none always follows
                for t in settings[r % len(settings):] + settings[:r % len(settings)]:
                    run = runs[t]  # the same setting (a 2-thread run's threads still spin)
                    started = time.perf_counter()
                    run()
                    times[t].append(time.perf_counter() - started)
            median = {t: statistics.median(v) for t, v in times.items()}
            best = min(median[n] for n in counts)
            cells = "".join(f"{median[n]:>10.4f}" for n in counts)
            print(f"{name:<10}{cells}{median[None]:>10.4f}{best / median[None]:>9.2f}"
                  f"{median[1] / median[None]:>7.2f}", flush=True)
    finally:
        for process in busy:
            process.kill()
            process.wait()


if __name__ == "__main__":
    main()
