"""Side-by-side training speed: fastbp, PyTorch and JAX (if installed), plain NumPy, the roof.

    python benchmarks/compare.py                 # all workloads, all cores
    python benchmarks/compare.py --threads 1     # one thread
    python benchmarks/compare.py --workloads S L --repeats 9
    python benchmarks/compare.py --scaling       # M128, L, XL on 1 thread and on all cores
    python benchmarks/compare.py --scaling 1 2 4 8 16
    python benchmarks/compare.py --check         # fastbp and JAX: the same loss after an epoch
    python benchmarks/compare.py --sparse        # sparse inputs: fastbp, scikit-learn, PyTorch
    python benchmarks/compare.py --precision bf16-mixed   # bfloat16 products (and --scaling)

For each workload one epoch of shuffled mini-batch SGD on Fashion-MNIST-shaped data
(784 inputs, 10 classes, float32) is timed; the table gives the median samples/s over
the repeats (in rounds across the implementations, so that a slow spell of a shared
machine falls on all alike), GFLOP/s counting 6 x (number of weights) per
sample, the ratio of fastbp to each implementation, and the share of the roof: NumPy's
float32 1024 x 1024 matrix product with all cores. Every implementation gets the same
data, batch size and number of steps (the data of ``common.fashion_like``). Timings
exclude compilation (one warm-up epoch first).

``--sparse`` times the sparse workloads of ``common.SPARSE_WORKLOADS`` (hashed-text-like
SciPy CSR inputs) instead: fastbp on the CSR matrix, scikit-learn's ``MLPClassifier``
(plain SGD, the same rate, batch and no L2 penalty; its own initialisation) on the same
matrix, and PyTorch's idiomatic sparse model from fastbp's initial weights, an
``nn.EmbeddingBag(mode="sum")`` fed each row's columns and values
(``per_sample_weights``) with sparse gradients, then ReLU and a ``Linear`` layer, trained
by plain ``torch.optim.SGD``; with each one's accuracy on held-out rows after the timed
epochs (every implementation trains as many).

``--precision bf16-mixed`` trains fastbp with ``precision="bf16-mixed"`` (bfloat16 operands
for the matrix products, float32 sums and weights; a CPU with AVX512-BF16) and runs
PyTorch's forward pass and loss under ``torch.autocast("cpu", dtype=torch.bfloat16)`` (its
backward pass follows the forward's types, the SGD step updates float32 weights); JAX and
NumPy stay float32, and the roof is still the float32 one (the heading says so). It
applies to the default table and ``--scaling``.

JAX runs the whole epoch as one ``jax.jit`` call (``lax.scan`` over the mini-batches) in a
worker process per thread count, timed from here. XLA reads its flags and makes its CPU
thread pool once per process, so ``XLA_FLAGS`` must be set before jax is imported; and in
jax 0.10 ``--xla_cpu_multi_thread_eigen=false`` alone does not keep it to one core. So the
worker sets the flags and restricts itself to the first N cores it may run on (where the
other implementations' N threads float over all cores) before it imports jax.
"""

import argparse
import contextlib
import functools
import importlib.metadata
import importlib.util
import os
import pickle
import platform
import statistics
import subprocess
import sys
import time

import numpy as np

try:  # imported by asv as part of the benchmarks package
    from . import common
except ImportError:  # run as a script
    import common
from fastbp._threads import max_threads  # after common, which finds fastbp

SEED, WORKLOADS, SPARSE_WORKLOADS = common.SEED, common.WORKLOADS, common.SPARSE_WORKLOADS
fashion_like, flops_per_sample, make_trainer = (common.fashion_like, common.flops_per_sample,
                                                common.make_trainer)

LEARNING_RATE = 0.01
SCALING_WORKLOADS = ["M128", "L", "XL"]
SETTLE_SECONDS = 0.3  # lets other libraries' spinning threads go to sleep


# -- fastbp -----------------------------------------------------------------------------

def fastbp_epoch(workload, X, y, threads, precision="32"):
    trainer = make_trainer(workload, threads, learning_rate=LEARNING_RATE, precision=precision)

    def run():
        trainer.fit(X, y, epochs=1)
    return run


# -- PyTorch ----------------------------------------------------------------------------

def torch_epoch(workload, X, y, threads, precision="32"):
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
    # bf16-mixed: the forward pass and the loss under autocast (bfloat16 matrix products,
    # float32 weights), the backward pass after it, as PyTorch's recipe has it.
    if precision == "bf16-mixed":
        def cast():
            return torch.autocast("cpu", dtype=torch.bfloat16)
    else:
        cast = contextlib.nullcontext

    def run():
        torch.set_num_threads(threads)   # per call: --scaling runs several counts
        order = torch.from_numpy(rng.permutation(len(X)))
        for start in range(0, len(X), batch):
            idx = order[start:start + batch]
            with cast():
                out = model(Xt[idx])
                if cost == "quadratic":
                    loss = 0.5 * ((out - Yt[idx]) ** 2).sum() / len(idx)
                else:
                    loss = ce(out, yt[idx])
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
    return run


# -- JAX --------------------------------------------------------------------------------

def jax_sgd(workload, X, y):
    """JAX's SGD for ``workload``, starting from fastbp's initial weights and taking
    fastbp's order of samples (``Trainer(seed=SEED)``), so that both compute the same
    epochs: returns ``epoch()``, which trains one epoch in one compiled call, and
    ``loss()``, the mean cost over (X, y). Compiles before it returns."""
    import jax
    import jax.numpy as jnp

    sizes, act, _, cost, batch, _ = WORKLOADS[workload]
    network = make_trainer(workload, 1).network
    params = [(jnp.asarray(w), jnp.asarray(b)) for w, b in zip(network.weights, network.biases)]
    hidden = jax.nn.sigmoid if act == "sigmoid" else jax.nn.relu
    n_full = len(X) // batch * batch   # S's 8192 samples leave a last batch of 2
    Xj, yj = jnp.asarray(X), jnp.asarray(y, dtype=jnp.int32)

    def cost_of(params, xb, yb):
        a = xb
        for w, b in params[:-1]:
            a = hidden(a @ w.T + b)
        w, b = params[-1]
        z = a @ w.T + b
        if cost == "quadratic":
            Y = jax.nn.one_hot(yb, sizes[-1], dtype=z.dtype)
            return 0.5 * jnp.sum((jax.nn.sigmoid(z) - Y) ** 2) / xb.shape[0]
        return -jnp.mean(jnp.take_along_axis(jax.nn.log_softmax(z), yb[:, None], axis=1))

    def step(params, batch_xy):
        grads = jax.grad(cost_of)(params, *batch_xy)
        return jax.tree.map(lambda p, g: p - LEARNING_RATE * g, params, grads), None

    def train_epoch(params, X, y, order):
        Xs, ys = X[order], y[order]
        batches = (Xs[:n_full].reshape(-1, batch, X.shape[1]), ys[:n_full].reshape(-1, batch))
        params, _ = jax.lax.scan(step, params, batches)
        if n_full < len(order):   # the short last batch, a step of its own shape
            params, _ = step(params, (Xs[n_full:], ys[n_full:]))
        return params

    rng = np.random.default_rng(SEED)
    order = np.zeros(len(X), np.int32)
    compiled_epoch = jax.jit(train_epoch).lower(params, Xj, yj, order).compile()
    compiled_cost = jax.jit(cost_of).lower(params, Xj, yj).compile()

    def epoch():
        nonlocal params
        params = jax.block_until_ready(
            compiled_epoch(params, Xj, yj, rng.permutation(len(X)).astype(np.int32)))

    def loss():
        return float(compiled_cost(params, Xj, yj))
    return epoch, loss


def _jax_worker(workload, threads):
    """A worker process's loop: X and y arrive on stdin (pickled), then one command a
    line, ``epoch`` or ``loss``, each answered by a line on stdout."""
    cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    if threads < len(cpus):
        os.sched_setaffinity(0, cpus[:threads])
    os.environ["XLA_FLAGS"] = (f"{os.environ.get('XLA_FLAGS', '')} --xla_cpu_multi_thread_eigen="
                               f"{str(threads > 1).lower()} intra_op_parallelism_threads={threads}")
    answers = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)   # stray prints go to stderr, not into the answers
    X, y = pickle.load(sys.stdin.buffer)
    epoch, loss = jax_sgd(workload, X, y)
    print("ready", file=answers, flush=True)
    for command in sys.stdin.buffer:
        answer = epoch() if command.strip() == b"epoch" else loss()
        print(answer, file=answers, flush=True)


class JaxWorker:
    """JAX in a worker process on ``threads`` cores, started, sent the data and compiled
    here; a call trains one epoch there, like the other implementations' ``run``. ``close``
    ends the worker, and so does the end of this process."""

    def __init__(self, workload, X, y, threads):
        here = os.path.dirname(os.path.abspath(__file__))
        code = (f"import sys; sys.path.insert(0, {here!r}); import compare; "
                f"compare._jax_worker({workload!r}, {threads})")
        self.worker = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE,
                                       stdout=subprocess.PIPE)
        try:
            pickle.dump((X, y), self.worker.stdin, protocol=pickle.HIGHEST_PROTOCOL)
            self.worker.stdin.flush()
            self._answer()
        except BaseException:
            self.close()
            raise

    def _answer(self, command=None):
        if command:
            self.worker.stdin.write(command + b"\n")
            self.worker.stdin.flush()
        line = self.worker.stdout.readline()
        if not line:
            raise RuntimeError("the JAX worker process ended; its error is above")
        return line.decode().strip()

    def __call__(self):
        self._answer(b"epoch")

    def loss(self):
        return float(self._answer(b"loss"))

    def close(self):
        try:
            self.worker.stdin.close()
            self.worker.wait(timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            self.worker.kill()
            self.worker.wait()


def jax_epoch(workload, X, y, threads):
    return JaxWorker(workload, X, y, threads)


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


# -- sparse inputs ----------------------------------------------------------------------
# Each returns an epoch's ``run``, with ``run.accuracy(X, y)`` on held-out rows.
SPARSE_LEARNING_RATE = 0.5  # rows of unit norm: 0.1 learns slowly, 2 diverges
N_HELD_OUT = 5000


def fastbp_sparse_epoch(workload, X, y, threads):
    trainer = common.make_sparse_trainer(workload, threads,
                                         learning_rate=SPARSE_LEARNING_RATE)

    def run():
        trainer.fit(X, y, epochs=1)
    run.accuracy = trainer.score
    return run


def sklearn_sparse_epoch(workload, X, y, threads):
    from sklearn.neural_network import MLPClassifier
    from threadpoolctl import threadpool_limits

    w = SPARSE_WORKLOADS[workload]
    model = MLPClassifier(hidden_layer_sizes=w.sizes[1:-1], solver="sgd", momentum=0.0,
                          learning_rate_init=SPARSE_LEARNING_RATE, batch_size=w.batch_size,
                          alpha=0.0, random_state=SEED)
    classes = np.arange(w.sizes[-1])

    def run():
        with threadpool_limits(threads):   # its BLAS calls
            model.partial_fit(X, y, classes=classes)   # one epoch of mini-batches
    run.accuracy = model.score
    return run


def torch_sparse_epoch(workload, X, y, threads):
    import torch

    w = SPARSE_WORKLOADS[workload]
    n_0, n_1 = w.sizes[:2]
    torch.manual_seed(SEED)

    class SparseMLP(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.bag = torch.nn.EmbeddingBag(n_0, n_1, mode="sum", sparse=True)
            self.bias = torch.nn.Parameter(torch.zeros(n_1))
            layers = []
            for a, b in zip(w.sizes[1:-1], w.sizes[2:]):
                layers += [torch.nn.ReLU(), torch.nn.Linear(a, b)]
            self.rest = torch.nn.Sequential(*layers)

        def forward(self, rows):
            indices, offsets, values = rows
            return self.rest(self.bag(indices, offsets, per_sample_weights=values) + self.bias)

    def batch_of(X):
        return (torch.from_numpy(X.indices.astype(np.int64)),
                torch.from_numpy(X.indptr[:-1].astype(np.int64)), torch.from_numpy(X.data))

    model = SparseMLP()
    # fastbp's initial weights (He normal, zero biases), so that both train the same
    # network and their accuracies compare (EmbeddingBag's own init is N(0, 1)).
    network = common.make_sparse_trainer(workload, 1).network
    with torch.no_grad():
        model.bag.weight.copy_(torch.from_numpy(network.weights[0].T))
        model.bias.zero_()
        for layer, W, b in zip(model.rest[1::2], network.weights[1:], network.biases[1:]):
            layer.weight.copy_(torch.from_numpy(W))
            layer.bias.copy_(torch.from_numpy(b))
    optimiser = torch.optim.SGD(model.parameters(), lr=SPARSE_LEARNING_RATE)
    loss_of = torch.nn.CrossEntropyLoss()
    yt = torch.from_numpy(y)
    rng = np.random.default_rng(0)

    def run():
        torch.set_num_threads(threads)
        order = rng.permutation(X.shape[0])
        for start in range(0, len(order), w.batch_size):
            idx = order[start:start + w.batch_size]
            loss = loss_of(model(batch_of(X[idx])), yt[idx])
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()

    def accuracy(X, y):
        with torch.no_grad():
            return float((model(batch_of(X)).argmax(1).numpy() == y).mean())
    run.accuracy = accuracy
    return run


def sparse(args):
    """Samples/s and held-out accuracy on the sparse workloads: fastbp, scikit-learn's
    MLPClassifier and PyTorch's EmbeddingBag model, on the same CSR matrix."""
    makers = {"fastbp": fastbp_sparse_epoch}
    for name, module, make in (("sklearn", "sklearn", sklearn_sparse_epoch),
                               ("torch", "torch", torch_sparse_epoch)):
        if name not in args.skip and importlib.util.find_spec(module):
            makers[name] = make
    print_heading(args, f"median of {args.repeats} epochs, learning rate "
                        f"{SPARSE_LEARNING_RATE}; accuracy on {N_HELD_OUT} held-out rows after "
                        f"all epochs",
                  f"{'workload':<10}{'impl':<9}{'samples/s':>12}{'GFLOP/s':>10}{'fastbp x':>10}"
                  f"{'accuracy':>10}")
    for name, w in SPARSE_WORKLOADS.items():
        X_all, y_all = common.sparse_data(name, w.n_samples + N_HELD_OUT)
        X, y = X_all[:w.n_samples], y_all[:w.n_samples]
        X_test, y_test = X_all[w.n_samples:], y_all[w.n_samples:]
        flops = common.sparse_flops_per_sample(w.sizes, X.nnz / X.shape[0])
        runs = {impl: make(name, X, y, args.threads) for impl, make in makers.items()}
        times = median_times(runs, args.repeats)
        rates = {impl: w.n_samples / t for impl, t in times.items()}
        for impl, rate in rates.items():
            accuracy = runs[impl].accuracy(X_test, y_test)
            print(f"{name:<10}{impl:<9}{rate:>12,.0f}{rate * flops / 1e9:>10.2f}"
                  f"{rates['fastbp'] / rate:>10.2f}{100 * accuracy:>9.1f}%", flush=True)
    return 0


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


def implementations(skip, numpy=True, precision="32"):
    """fastbp and those of its peers that are installed and not in ``skip``: name -> the
    function that makes an epoch's ``run``. ``precision`` reaches fastbp and PyTorch
    (JAX and NumPy run in float32 whatever it says); with bf16-mixed, fastbp and PyTorch
    in float32 are timed too ("fastbp32", "torch32")."""
    found = {"fastbp": functools.partial(fastbp_epoch, precision=precision)}
    for name, make in (("torch", functools.partial(torch_epoch, precision=precision)),
                       ("jax", jax_epoch)):
        if name not in skip and importlib.util.find_spec(name):
            found[name] = make
    if precision != "32":  # and both in float32, measured in the same rounds
        found["fastbp32"] = fastbp_epoch
        if "torch" in found:
            found["torch32"] = torch_epoch
    if numpy and "numpy" not in skip:
        found["numpy"] = numpy_epoch
    return found


def versions(skip):
    """numpy's, torch's and jax's versions, or why one is left out."""
    found = [f"numpy {np.__version__}"]
    for name in ("torch", "jax"):
        if name in skip:
            found.append(f"{name} skipped")
        elif importlib.util.find_spec(name):
            found.append(f"{name} {importlib.metadata.version(name)}")
        else:
            found.append(f"{name} not installed, left out")
    return "; ".join(found)


def precision_note(precision, roof=True):
    """What ``--precision`` changes, for a heading ("" for the default, float32)."""
    if precision == "32":
        return ""
    note = (f"; precision {precision}: fastbp, and torch under torch.autocast('cpu', "
            f"bfloat16); jax")
    return note + (" and numpy in float32, % roof against the float32 roof" if roof
                   else " in float32")


def print_heading(args, details, header):
    """The machine; the threads, the versions and ``details``; a table's ``header``."""
    print(f"machine: {machine_description()}")
    print(f"threads: {args.threads}; {versions(args.skip)}; {details}"
          f"{precision_note(args.precision)}")
    print(header)
    print("-" * len(header))


def close(runs):
    """End the worker processes behind ``runs`` (JAX's)."""
    for run in runs.values():
        if hasattr(run, "close"):
            run.close()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workloads", nargs="*", choices=list(WORKLOADS),
                        help="default: all; with --scaling " + " ".join(SCALING_WORKLOADS)
                        + "; with --check S")
    parser.add_argument("--threads", type=int, default=max_threads())
    parser.add_argument("--repeats", type=int, default=6)
    parser.add_argument("--skip", nargs="*", default=[],
                        choices=["torch", "jax", "numpy", "sklearn"],
                        help="implementations to leave out")
    parser.add_argument("--scaling", nargs="*", type=int, metavar="THREADS",
                        help="instead: samples/s and parallel efficiency on these thread "
                             "counts (default 1 and --threads), capped at the cores")
    parser.add_argument("--check", action="store_true",
                        help="instead: fastbp's and JAX's loss before and after one epoch "
                             "from the same weights")
    parser.add_argument("--sparse", action="store_true",
                        help="instead: the sparse workloads (CSR inputs) against "
                             "scikit-learn's MLPClassifier and PyTorch's EmbeddingBag model")
    parser.add_argument("--precision", default="32", choices=["32", "bf16-mixed"],
                        help="bf16-mixed: fastbp trains with precision='bf16-mixed' and "
                             "PyTorch under torch.autocast('cpu', bfloat16); JAX and NumPy "
                             "stay float32 (default table and --scaling only; default: 32)")
    args = parser.parse_args(argv)
    if args.precision != "32" and (args.sparse or args.check):
        parser.error("--precision bf16-mixed times the dense workloads: the default table "
                     "or --scaling (not --sparse or --check)")
    if args.sparse:
        return sparse(args)
    if args.scaling is not None:
        return scaling(args)
    if args.check:
        return check(args)

    runners = implementations(args.skip, precision=args.precision)
    roof = roof_gflops()
    print_heading(args, f"roof (numpy float32 1024^3 matmul, all cores): {roof:.1f} GFLOP/s; "
                        f"median of {args.repeats} epochs",
                  f"{'workload':<12}{'impl':<8}{'samples/s':>12}{'GFLOP/s':>10}{'fastbp x':>10}"
                  f"{'% roof':>8}")
    for name in args.workloads or list(WORKLOADS):
        n = WORKLOADS[name].n_samples
        X, y = fashion_like(n)
        flops = flops_per_sample(WORKLOADS[name].sizes)
        runs = {}
        try:
            for impl, make in runners.items():
                runs[impl] = make(name, X, y, args.threads)
            times = median_times(runs, args.repeats)
        finally:
            close(runs)
        rates = {impl: n / t for impl, t in times.items()}
        for impl, rate in rates.items():
            gflops = rate * flops / 1e9
            ratio = rates["fastbp"] / rate
            print(f"{name:<12}{impl:<8}{rate:>12,.0f}{gflops:>10.1f}{ratio:>10.2f}"
                  f"{100 * gflops / roof:>7.0f}%", flush=True)
    return 0


def scaling(args):
    """Samples/s on each thread count and the parallel efficiency, samples/s on N threads
    over N x samples/s on 1, measured in the same rounds: fastbp and its peers but NumPy
    (whose BLAS threads cannot be set per call)."""
    cores = max_threads()
    asked = args.scaling or [args.threads]
    counts = sorted({1} | {min(max(t, 1), cores) for t in asked})
    runners = implementations(args.skip, numpy=False, precision=args.precision)
    print(f"machine: {machine_description()}")
    capped = f" (capped at {cores} cores)" if max(asked) > cores else ""
    print(f"threads: {' '.join(map(str, counts))}{capped}; {versions(args.skip)}; "
          f"median of {args.repeats} epochs"
          f"{precision_note(args.precision, roof=False)}")
    header = (f"{'workload':<12}{'impl':<8}{'threads':>8}{'samples/s':>12}{'speed-up':>10}"
              f"{'efficiency':>12}")
    print(header)
    print("-" * len(header))
    for name in args.workloads or SCALING_WORKLOADS:
        n = WORKLOADS[name].n_samples
        X, y = fashion_like(n)
        runs = {}
        try:
            for impl, make in runners.items():
                for t in counts:
                    runs[impl, t] = make(name, X, y, t)
            times = median_times(runs, args.repeats)
        finally:
            close(runs)
        for (impl, t), seconds in times.items():
            speedup = times[impl, 1] / seconds
            print(f"{name:<12}{impl:<8}{t:>8}{n / seconds:>12,.0f}{speedup:>10.2f}"
                  f"{speedup / t:>12.2f}", flush=True)
    return 0


def check(args):
    """fastbp and JAX, from the same weights and in the same order of samples, compute the
    same network: the mean training loss before and after one epoch, which must fall and
    agree within 1%."""
    if "jax" in args.skip or not importlib.util.find_spec("jax"):
        print("jax is not installed (or skipped): nothing to check")
        return 1
    print(f"threads: {args.threads}; {versions(args.skip)}; learning rate {LEARNING_RATE}")
    header = f"{'workload':<12}{'impl':<8}{'loss before':>14}{'loss after':>14}"
    print(header)
    print("-" * len(header))
    failed = 0
    for name in args.workloads or ["S"]:
        X, y = fashion_like(WORKLOADS[name].n_samples)
        trainer = make_trainer(name, args.threads, learning_rate=LEARNING_RATE)
        jax_run = jax_epoch(name, X, y, args.threads)
        try:
            losses = {"fastbp": [trainer.evaluate(X, y)["loss"]], "jax": [jax_run.loss()]}
            trainer.fit(X, y, epochs=1)
            jax_run()
            losses["fastbp"].append(trainer.evaluate(X, y)["loss"])
            losses["jax"].append(jax_run.loss())
        finally:
            jax_run.close()
        for impl, (before, after) in losses.items():
            print(f"{name:<12}{impl:<8}{before:>14.6f}{after:>14.6f}")
        (fb_before, fb_after), (jx_before, jx_after) = losses.values()
        difference = abs(jx_after - fb_after) / fb_after
        good = fb_after < fb_before and jx_after < jx_before and difference < 0.01
        failed += not good
        print(f"{name:<12}{'ok' if good else 'FAILED'}: relative difference after one epoch "
              f"{difference:.1e}", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
