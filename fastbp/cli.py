"""The command line.

    python -m fastbp                       the main job: 64-128-10 on the bundled digits
    fastbp train --data digits ...         train, print a table per epoch, save a model
    fastbp evaluate model.npz --data ...   loss and accuracy of a saved model
    fastbp predict model.npz --data ...    its predictions, to a file or the screen

Data sets: ``digits`` (bundled), ``fashion-mnist`` (see
``fastbp.datasets.load_fashion_mnist``), a ``.npz`` file with arrays ``X`` and ``y``
(and optionally ``X_test``, ``y_test``), or a ``.csv`` file of numbers whose last
column is the label (a header line is skipped).
"""

import argparse
import itertools
import os
import sys
import tempfile
import time
import warnings
import zipfile

import numpy as np

from ._threads import max_threads
from ._version import __version__
from .datasets import load_digits, load_fashion_mnist, train_test_split
from .optim import OPTIMIZERS, SCHEDULES
from .plot import plot_history
from .kernels.activations import ACTIVATION_CODES
from .trainer import Trainer, TrainingDiverged

HIDDEN_ACTIVATIONS = sorted(set(ACTIVATION_CODES) - {"softmax"})
# Labels name classes 0, 1, ...: a label beyond this is a mistake, not a class.
MAX_LABEL = 2**31 - 1


class CommandError(Exception):
    """Bad input to the command line: ``main`` prints it as one line, exit status 2."""


def load_data(name, test_size=0.25, seed=0):
    """(X_train, y_train, X_test, y_test) of a data set name or file."""
    if name == "digits":
        X, y = load_digits()
        X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=test_size, seed=seed)
        return X_train, y_train, X_test, y_test
    if name == "fashion-mnist":
        (X_train, y_train), (X_test, y_test) = load_fashion_mnist()
        return X_train, y_train, X_test, y_test
    if name.endswith(".npz"):
        data = _read_npz(name, ("X", "y"), ("X_test", "y_test"))
        if "X_test" in data and "y_test" in data:
            return data["X"], _labels(data["y"], name), data["X_test"], _labels(data["y_test"],
                                                                                  name)
        X, y = data["X"], data["y"]
    elif name.endswith(".csv"):
        X, y = _read_csv(name)
    else:
        raise CommandError(f"--data must be digits, fashion-mnist, a .npz or a .csv file; "
                           f"got {name!r}")
    X_train, X_test, y_train, y_test = train_test_split(X, _labels(y, name),
                                                        test_size=test_size, seed=seed)
    return X_train, y_train, X_test, y_test


def _read_npz(path, required, optional=()):
    """The arrays ``required`` (and those of ``optional`` present) of a .npz file."""
    try:
        with np.load(path, allow_pickle=False) as data:
            missing = [key for key in required if key not in data.files]
            if missing:
                raise CommandError(f"{path}: a data file needs arrays {list(required)}; "
                                   f"{missing} missing (it has {data.files})")
            return {key: np.asarray(data[key]) for key in (*required, *optional)
                    if key in data.files}
    except (zipfile.BadZipFile, EOFError, ValueError) as error:
        raise CommandError(f"{path}: not a readable .npz file ({error})") from None


def _labels(y, path):
    """Class labels as integers 0, 1, ...: whole, finite, in range."""
    y = np.asarray(y)
    if y.dtype.kind not in "biuf" or y.ndim != 1:
        raise CommandError(f"{path}: the labels must be one column of numbers; got "
                           f"dtype {y.dtype} and shape {y.shape}")
    bad = ~np.isfinite(y) | (y < 0) | (y > MAX_LABEL) | (y != np.round(y)) if y.size else []
    if np.any(bad):
        first = y[np.flatnonzero(bad)[0]]
        raise CommandError(f"{path}: labels must be whole numbers in [0, {MAX_LABEL}] (class "
                           f"0, 1, ...); got {first.item()!r}")
    return y.astype(np.int64)


def _read_csv(path):
    with open(path) as f:
        first = f.readline()
    try:
        [float(v) for v in first.strip().split(",")]
        skip = 0
    except ValueError:
        skip = 1  # a header
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "input contained no data": refused below
        table = np.loadtxt(path, delimiter=",", skiprows=skip, ndmin=2)
    if table.shape[0] == 0:
        raise CommandError(f"{path}: no rows of data")
    if table.shape[1] < 2:
        raise CommandError(f"{path}: expected at least two columns (features, then the label)")
    return table[:, :-1], table[:, -1]


def _inputs(name):
    """The inputs to predict for: a data set's test part, or all rows of a file."""
    if name.endswith(".npz"):
        return _read_npz(name, ("X",))["X"]
    if name.endswith(".csv"):
        return _read_csv(name)[0]
    return load_data(name)[2]


def _check_writable(path, option):
    """Refuse, before any work, a file that could not be written at the end: its
    directory must exist and take a new file (tried, so root and read-only mounts
    answer truly)."""
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise CommandError(f"{option} {path}: the directory {directory} does not exist")
    try:
        with tempfile.TemporaryFile(dir=directory, prefix=".fastbp-probe-"):
            pass
    except OSError as error:
        raise CommandError(f"{option} {path}: cannot write in {directory} "
                           f"({error.strerror or error})") from None


def _check_memory(sizes, batch_size):
    """Refuse layer sizes whose training would need more memory than the machine has:
    the parameters and up to three buffers of their size (gradient, optimiser state),
    and the activations and deltas of a training batch (``batch_size``: as trained, at
    most the samples) and an evaluation batch, in float32."""
    weights = sum((n_in + 1) * n_out for n_in, n_out in itertools.pairwise(sizes))
    units = sum(sizes[1:])
    need = 4 * (4 * weights + 2 * (batch_size + 1024) * units)
    try:
        memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):  # not POSIX: let allocation decide
        return
    if need > memory:
        raise CommandError(f"layer sizes {list(sizes)} ({weights:,} weights) need about "
                           f"{need / 2**30:,.1f} GiB of memory to train; this machine has "
                           f"{memory / 2**30:,.1f} GiB: choose smaller --hidden layers")


def build_parser():
    parser = argparse.ArgumentParser(
        prog="fastbp",
        description="Train fully-connected networks on the CPU. Without a command: train "
                    "64-128-10 on the bundled 8x8 digits (1,797 images) and print per-epoch "
                    "loss and accuracy and the final test accuracy.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    _add_training_options(parser)
    commands = parser.add_subparsers(dest="command")

    train = commands.add_parser("train", help="train a network and save it",
                                description="Train a network, print a table per epoch and "
                                            "the final test metrics, save the model.")
    train.add_argument("--data", default="digits",
                       help="digits, fashion-mnist, or a .npz/.csv file (default: digits)")
    train.add_argument("--test-size", type=float, default=0.25,
                       help="held-out fraction when the data has no test part (default 0.25)")
    _add_training_options(train)
    train.add_argument("--cost", default="cross_entropy",
                       choices=["cross_entropy", "binary_cross_entropy", "quadratic"])
    train.add_argument("--output-activation", default=None,
                       help="default: the one the cost needs (softmax, sigmoid; identity "
                            "for quadratic)")
    train.add_argument("--optimizer", default="sgd", choices=OPTIMIZERS)
    train.add_argument("--momentum", type=float, default=0.0)
    train.add_argument("--nesterov", action="store_true")
    train.add_argument("--weight-decay", type=float, default=0.0)
    train.add_argument("--lr-schedule", default="constant", choices=SCHEDULES)
    train.add_argument("--dropout", type=float, default=0.0,
                       help="dropout rate of the hidden layers during training (default: 0)")
    train.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                       help="progress bar over epochs and batches (needs tqdm; default: "
                            "when standard error is a terminal)")
    train.add_argument("--validation-split", type=float, default=0.0)
    train.add_argument("--patience", type=int, default=None,
                       help="stop after this many epochs without improvement")
    train.add_argument("--output", "-o", default=None, help="model file to write (.npz)")
    train.add_argument("--checkpoint", default=None,
                       help="write the training state to this file every --checkpoint-every "
                            "epochs, atomically")
    train.add_argument("--checkpoint-every", type=int, default=1, metavar="N")
    train.add_argument("--resume", action="store_true",
                       help="continue from --checkpoint if it exists (same data and settings "
                            "give the bits of an uninterrupted run)")
    train.add_argument("--plot", default=None,
                       help="write the learning curves to this image (needs matplotlib)")

    evaluate = commands.add_parser("evaluate", help="loss and accuracy of a saved model")
    evaluate.add_argument("model", help="a model file written by 'fastbp train'")
    evaluate.add_argument("--data", default="digits")
    evaluate.add_argument("--test-size", type=float, default=0.25)
    evaluate.add_argument("--seed", type=int, default=0)

    info = commands.add_parser(
        "info", help="this machine as fastbp sees it: CPU, kernel variant, threads, caches",
        description="Print the CPU and its vector features, the kernel variant chosen for it "
                    "(FASTBP_KERNEL forces one, FASTBP_KERNEL=tune measures again), "
                    "Numba's threading layer, the thread counts, and the cache directories.")
    info.add_argument("--compile", action="store_true",
                      help="also compile (or load) the float32 training kernels, as a "
                           "container image or a cluster job would before its first run")

    predict = commands.add_parser("predict", help="predictions of a saved model")
    predict.add_argument("model")
    predict.add_argument("--data", required=True,
                         help="a .npz (array X) or .csv file, or a data set's test part")
    predict.add_argument("--output", "-o", default=None,
                         help="write the predictions to this .csv (default: print them)")
    return parser


def _add_training_options(parser):
    parser.add_argument("--hidden", type=int, nargs="*", default=[128],
                        help="hidden layer sizes (default: 128)")
    parser.add_argument("--activation", default="relu", choices=HIDDEN_ACTIVATIONS,
                        help="hidden activation (default: relu)")
    parser.add_argument("--epochs", type=int, default=30, help="epochs (default: 30)")
    parser.add_argument("--batch-size", type=int, default=16, help="mini-batch size (default 16)")
    parser.add_argument("--learning-rate", type=float, default=0.1,
                        help="learning rate (default: 0.1)")
    parser.add_argument("--threads", type=int, default=None,
                        help=f"threads per batch (default: all {max_threads()})")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")


def _train(args, data="digits", save=None):
    if args.command == "train":
        if args.resume and not args.checkpoint:
            raise CommandError("--resume needs --checkpoint")
        for option in ("output", "checkpoint", "plot"):
            if getattr(args, option):
                _check_writable(getattr(args, option), f"--{option}")
    X_train, y_train, X_test, y_test = load_data(data, getattr(args, "test_size", 0.25),
                                                 args.seed)
    if len(y_train) == 0 or len(y_test) == 0:
        raise CommandError(f"{data}: too few samples to train and test on")
    n_classes = int(max(np.max(y_train), np.max(y_test))) + 1
    kwargs = dict(activation=args.activation, learning_rate=args.learning_rate,
                  batch_size=args.batch_size, threads=args.threads, seed=args.seed,
                  epochs=args.epochs, verbose=True)
    cost = getattr(args, "cost", "cross_entropy")
    if args.command == "train":
        kwargs.update(optimizer=args.optimizer, momentum=args.momentum, nesterov=args.nesterov,
                      weight_decay=args.weight_decay, lr_schedule=args.lr_schedule,
                      output_activation=args.output_activation, dropout=args.dropout,
                      progress=args.progress)
    n_out = 1 if cost == "binary_cross_entropy" and n_classes <= 2 else n_classes
    _check_memory([X_train.shape[1], *args.hidden, n_out], min(args.batch_size, len(X_train)))
    trainer = Trainer([X_train.shape[1], *args.hidden, n_out], cost, **kwargs)
    print(f"{data}: {len(X_train)} training and {len(X_test)} test samples; {trainer.network}")
    fit_kwargs = {}
    if args.command == "train":
        fit_kwargs = dict(validation_split=args.validation_split, patience=args.patience,
                          checkpoint=args.checkpoint, checkpoint_every=args.checkpoint_every)
        if args.resume and os.path.exists(args.checkpoint):
            fit_kwargs["resume"] = args.checkpoint
            print(f"resuming from {args.checkpoint}")
    start = time.perf_counter()
    trainer.fit(X_train, y_train, **fit_kwargs)
    elapsed = time.perf_counter() - start
    test = trainer.evaluate(X_test, y_test)
    print(f"test loss {test['loss']:.4f}  test accuracy {test.get('accuracy', float('nan')):.4f}")
    print(f"final test accuracy: {trainer.score(X_test, y_test):.4f} "
          f"({elapsed:.2f} s, {trainer.threads} threads, compilation included unless cached)")
    if save:
        trainer.save(save)
        print(f"model written to {save}")
    if getattr(args, "plot", None):
        plot_history(trainer.history, args.plot, title=f"{data}: {trainer.network}")
        print(f"learning curves written to {args.plot}")
    return 0


def _evaluate(args):
    trainer = Trainer.load(args.model)
    _, _, X_test, y_test = load_data(args.data, args.test_size, args.seed)
    result = trainer.evaluate(X_test, y_test)
    print("  ".join(f"{key} {value:.4f}" for key, value in result.items()))
    return 0


def _predict(args):
    if args.output:
        _check_writable(args.output, "--output")
    trainer = Trainer.load(args.model)
    predictions = trainer.predict(_inputs(args.data))
    if args.output:
        np.savetxt(args.output, np.asarray(predictions).reshape(len(predictions), -1),
                   delimiter=",", fmt="%.8g")
        print(f"{len(predictions)} predictions written to {args.output}")
    else:
        np.savetxt(sys.stdout, np.asarray(predictions).reshape(len(predictions), -1),
                   delimiter=",", fmt="%.8g")
    return 0


def _info(args):
    from . import tuning
    from ._config import KERNEL_CACHE_DIR
    from ._threads import threading_layer
    from .pacing import free_cores
    import numba

    if args.compile:
        started = time.perf_counter()
        X, y = load_data("digits")[:2]
        for threads in sorted({1, max_threads()}):
            Trainer([X.shape[1], 16, 10], batch_size=16, threads=threads,
                    seed=0).fit(X[:64], y[:64], epochs=1)
        print(f"{'compiled in':<16}{time.perf_counter() - started:.1f} s")
    details = tuning.describe()
    numba.get_num_threads()  # starts Numba's threads: the layer is then known
    rows = [("fastbp", __version__), ("numba", numba.__version__),
            ("cpu", details["cpu"]), ("llvm cpu", details["llvm_cpu"]),
            ("features", " ".join(details["features"])),
            ("kernel variant", details["kernel_variant"] + (
                f" (forced: {details['forced_by']})" if details["forced_by"] else
                " (measured)" if len(details["variants"]) > 1 else " (the only one)")),
            ("variants", " ".join(details["variants"])),
            ("threading layer", threading_layer()),
            ("threads", f"up to {max_threads()}; {free_cores()} free now "
                        f"(threads=None chooses by measurement)"),
            ("cache", details["cache_dir"]), ("kernel cache", KERNEL_CACHE_DIR)]
    for name, value in rows:
        print(f"{name:<16}{value}")
    return 0


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.command == "evaluate":
            return _evaluate(args)
        if args.command == "predict":
            return _predict(args)
        if args.command == "info":
            return _info(args)
        if args.command == "train":
            return _train(args, args.data, args.output)
        return _train(args)  # the main job
    except (CommandError, ValueError, TypeError, OSError, ImportError, MemoryError,
            OverflowError, TrainingDiverged) as error:
        # Bad input (ModelFileError and TrainingDiverged included): one line, no
        # traceback, exit status 2 as for a bad option.
        command = f"{parser.prog} {args.command}" if args.command else parser.prog
        message = " ".join(str(error).split()) or type(error).__name__
        print(f"{command}: error: {message}", file=sys.stderr)
        return 2
