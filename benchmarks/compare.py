"""Side-by-side training speed: fastbp, PyTorch (if installed), plain NumPy, and the roof.

    python benchmarks/compare.py                 # all workloads, all cores
    python benchmarks/compare.py --threads 1     # one thread
    python benchmarks/compare.py --workloads S L --repeats 9
    python benchmarks/compare.py --scaling       # 1 thread against all cores

For each workload one epoch of shuffled mini-batch SGD on Fashion-MNIST-shaped data
(784 inputs, 10 classes, float32) is timed; the table gives the median samples/s over
the repeats (in rounds across the implementations, so that a slow spell of a shared
machine falls on all alike), GFLOP/s counting 6 x (number of weights) per
sample, the ratio of fastbp to each implementation, and the share of the roof: NumPy's
float32 1024 x 1024 matrix product with all cores. Every implementation gets the same
data, batch size and number of steps (the data of ``common.fashion_like``). Timings
exclude compilation (one warm-up epoch first).
"""

import argparse
import os
import platform
import statistics
import time

import numpy as np

try:  # imported by asv as part of the benchmarks package
    from .common import WORKLOADS, fashion_like, flops_per_sample, make_trainer
except ImportError:  # run as a script
    from common import WORKLOADS, fashion_like, flops_per_sample, make_trainer
from fastbp._threads import max_threads  # after common, which finds fastbp

LEARNING_RATE = 0.01
SETTLE_SECONDS = 0.3  # lets other libraries' spinning threads go to sleep


# -- fastbp -----------------------------------------------------------------------------

def fastbp_epoch(workload, X, y, threads):
    trainer = make_trainer(workload, threads, learning_rate=LEARNING_RATE)

    def run():
        trainer.fit(X, y, epochs=1)
    return run


# -- PyTorch ----------------------------------------------------------------------------

def torch_epoch(workload, X, y, threads):
    import torch
    torch.set_num_threads(threads)
    sizes, act, _, cost, batch, _ = WORKLOADS[workload]
    layers = []
    for i in range(len(sizes) - 1):
        layers.append(torch.nn.Linear(sizes[i], sizes[i + 1]))
        if i < len(sizes) - 2:
            layers.append(torch.nn.Sigmoid() if act == "sigmoid" else torch.nn.ReLU())
    if cost == "quadratic":
        layers.append(torch.nn.Sigmoid())
    model = torch.nn.Sequential(*layers)
    optimiser = torch.optim.SGD(model.parameters(), lr=LEARNING_RATE)
    Xt = torch.from_numpy(X)
    yt = torch.from_numpy(y)
    Yt = torch.nn.functional.one_hot(yt, 10).float()
    ce = torch.nn.CrossEntropyLoss()
    rng = np.random.default_rng(0)

    def run():
        order = torch.from_numpy(rng.permutation(len(X)))
        for start in range(0, len(X), batch):
            idx = order[start:start + batch]
            out = model(Xt[idx])
            if cost == "quadratic":
                loss = 0.5 * ((out - Yt[idx]) ** 2).sum() / len(idx)
            else:
                loss = ce(out, yt[idx])
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
    return run


# -- plain NumPy ------------------------------------------------------------------------

def numpy_epoch(workload, X, y, threads):
    sizes, act, _, cost, batch, _ = WORKLOADS[workload]
    rng = np.random.default_rng(0)
    W = [(rng.standard_normal((b, a)) * np.sqrt(2 / a)).astype(np.float32)
         for a, b in zip(sizes[:-1], sizes[1:])]
    B = [np.zeros(b, np.float32) for b in sizes[1:]]
    Y = np.eye(10, dtype=np.float32)[y]
    eta = np.float32(LEARNING_RATE)

    def f(z):
        return 1 / (1 + np.exp(-z)) if act == "sigmoid" else np.maximum(z, 0)

    def df(a):
        return a * (1 - a) if act == "sigmoid" else (a > 0).astype(np.float32)

    def run():
        order = rng.permutation(len(X))
        for start in range(0, len(X), batch):
            idx = order[start:start + batch]
            As = [X[idx]]
            for l in range(len(W)):
                z = As[-1] @ W[l].T + B[l]
                if l < len(W) - 1:
                    As.append(f(z))
                elif cost == "quadratic":
                    As.append(1 / (1 + np.exp(-z)))
                else:
                    e = np.exp(z - z.max(axis=1, keepdims=True))
                    As.append(e / e.sum(axis=1, keepdims=True))
            a = As[-1]
            delta = (a - Y[idx]) * (a * (1 - a) if cost == "quadratic" else 1)
            m = np.float32(len(idx))
            for l in range(len(W) - 1, -1, -1):
                grad_w = delta.T @ As[l] / m
                grad_b = delta.sum(axis=0) / m
                if l > 0:
                    delta = (delta @ W[l]) * df(As[l])
                W[l] -= eta * grad_w
                B[l] -= eta * grad_b
    return run


# -- measuring --------------------------------------------------------------------------

def median_times(runs, repeats, rounds=3):
    """Median seconds per call of each function. The calls come in rounds: each round
    runs every function in turn, an untimed call first and then its share of the
    repeats, so that a slow spell of a shared machine falls on all alike, while the
    untimed call absorbs what the previous library leaves behind (BLAS and OpenMP
    threads that keep spinning for a while after a call, competing for the cores)."""
    times = {name: [] for name in runs}
    per_round = -(-repeats // rounds)
    for _ in range(rounds):
        for name, run in runs.items():
            time.sleep(SETTLE_SECONDS)
            run()
            for _ in range(per_round):
                start = time.perf_counter()
                run()
                times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) for name, t in times.items()}


def roof_gflops(repeats=20):
    a = np.random.default_rng(0).random((1024, 1024), dtype=np.float32)
    b = a.copy()
    a @ b
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        a @ b
        times.append(time.perf_counter() - start)
    return 2 * 1024 ** 3 / statistics.median(times) / 1e9


def machine_description():
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} logical cores, Python {platform.python_version()}"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workloads", nargs="*", default=list(WORKLOADS), choices=list(WORKLOADS))
    parser.add_argument("--threads", type=int, default=max_threads())
    parser.add_argument("--repeats", type=int, default=6)
    parser.add_argument("--skip", nargs="*", default=[], choices=["torch", "numpy"],
                        help="implementations to leave out")
    parser.add_argument("--scaling", action="store_true",
                        help="instead: fastbp on 1 thread against --threads threads")
    args = parser.parse_args(argv)
    if args.scaling:
        return scaling(args)

    implementations = {"fastbp": fastbp_epoch}
    if "torch" not in args.skip:
        try:
            import torch
            implementations["torch"] = torch_epoch
            torch_version = torch.__version__
        except ImportError:
            torch_version = "not installed"
    if "numpy" not in args.skip:
        implementations["numpy"] = numpy_epoch
    roof = roof_gflops()
    print(f"machine: {machine_description()}")
    print(f"threads: {args.threads}; numpy {np.__version__}; torch "
          f"{torch_version if 'torch' not in args.skip else 'skipped'}; "
          f"roof (numpy float32 1024^3 matmul, all cores): {roof:.1f} GFLOP/s; "
          f"median of {args.repeats} epochs")
    header = (f"{'workload':<12}{'impl':<8}{'samples/s':>12}{'GFLOP/s':>10}{'fastbp x':>10}"
              f"{'% roof':>8}")
    print(header)
    print("-" * len(header))
    for name in args.workloads:
        n = WORKLOADS[name].n_samples
        X, y = fashion_like(n)
        flops = flops_per_sample(WORKLOADS[name].sizes)
        runs = {impl: make(name, X, y, args.threads) for impl, make in implementations.items()}
        rates = {impl: n / t for impl, t in median_times(runs, args.repeats).items()}
        for impl, rate in rates.items():
            gflops = rate * flops / 1e9
            ratio = rates["fastbp"] / rate
            print(f"{name:<12}{impl:<8}{rate:>12,.0f}{gflops:>10.1f}{ratio:>10.2f}"
                  f"{100 * gflops / roof:>7.0f}%", flush=True)
    return 0


def scaling(args):
    """fastbp's speed-up from 1 thread to ``args.threads``, measured in the same rounds."""
    print(f"machine: {machine_description()}")
    print(f"fastbp, 1 thread against {args.threads}; median of {args.repeats} epochs")
    header = f"{'workload':<12}{'1 thread':>12}{f'{args.threads} threads':>12}{'speed-up':>10}"
    print(header)
    print("-" * len(header))
    for name in args.workloads:
        n = WORKLOADS[name].n_samples
        X, y = fashion_like(n)
        runs = {t: fastbp_epoch(name, X, y, t) for t in (1, args.threads)}
        times = median_times(runs, args.repeats)
        print(f"{name:<12}{n / times[1]:>12,.0f}{n / times[args.threads]:>12,.0f}"
              f"{times[1] / times[args.threads]:>10.2f}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
