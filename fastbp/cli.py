"""The command line.

    python -m fastbp                       the main job: 64-128-10 on the bundled digits
    fastbp train --data digits ...         train, print a table per epoch, save a model
    fastbp evaluate model.npz --data ...   loss and accuracy of a saved model
    fastbp predict model.npz --data ...    its predictions, to a file or the screen

Data sets: ``digits`` (bundled), ``fashion-mnist`` (see
``fastbp.datasets.load_fashion_mnist``), a ``.npz`` file with arrays ``X`` and ``y``
(and optionally ``X_test``, ``y_test``), a sparse ``.npz`` file (see ``SPARSE_FORMAT``),
or a ``.csv`` file (see ``CSV_FORMAT``).

``train`` writes the model to ``-o`` (default ``model.npz``, never replaced unless named
with ``-o``), with the split (seed, test size) and a CSV's class names, which
``evaluate`` and ``predict`` reuse.
"""

import argparse
import contextlib
import csv
import itertools
import os
import sys
import tempfile
import time
import zipfile

import numpy as np

from . import io
from ._csv import read_csv
from ._saved_state import SavedState
from ._threads import max_threads
from ._validation import PRECISIONS
from ._version import __version__
from .datasets import load_digits, load_fashion_mnist, train_test_split
from .kernels.activations import ACTIVATIONS, HIDDEN_ACTIVATIONS
from .kernels.costs import COSTS
from .optim import OPTIMIZERS, SCHEDULES
from .plot import plot_history
from .trainer import Trainer, TrainingDiverged

# Labels name classes 0, 1, ...: a label beyond this is a mistake, not a class.
MAX_LABEL = 2**31 - 1
# The longest class name a CSV may give.
MAX_CLASS_CHARS = 200
# Where train writes the model without -o (refused when it exists).
DEFAULT_MODEL = "model.npz"
DATA_HELP = ("digits, fashion-mnist, or a .npz (arrays, or sparse: see below) or .csv file "
             "(default: digits)")
# The split of a model file that does not record one (files of earlier versions).
DEFAULT_SEED, DEFAULT_TEST_SIZE = 0, 0.25

CSV_FORMAT = """\
CSV files: one sample per line, numbers separated by commas; an optional header
line (column names) is skipped. For train and evaluate the last column is the class
label: whole numbers 0, 1, ... or names such as setosa (the model stores the names,
and predict writes them back). For predict the file may hold the features only, or
the features and then a label column, which is ignored."""

SPARSE_FORMAT = """\
Sparse data (text, one-hot columns): X.npz written by scipy.sparse.save_npz, with the
class labels beside it in X.labels.npy (numpy.save of one whole number per row). X is
read as CSR and never made dense (SciPy needed)."""

EPILOG = f"""\
examples:
  fastbp train --data digits --hidden 128 --epochs 30 -o digits.npz
  fastbp evaluate digits.npz --data digits      # the test part of the training split
  fastbp predict iris.npz --data new-flowers.csv -o predictions.csv

{CSV_FORMAT}

{SPARSE_FORMAT}"""


class CommandError(Exception):
    """Bad input to the command line: ``main`` prints it as one line, exit status 2."""


def load_data(name, test_size=0.25, seed=0):
    """(X_train, y_train, X_test, y_test, classes) of a data set name or file: labels
    as class indices 0, 1, ..., and ``classes`` the names they stand for (a CSV's
    text labels, sorted), or None where the labels are numbers."""
    if name == "digits":
        X, y = load_digits()
        X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=test_size, seed=seed)
        return X_train, y_train, X_test, y_test, None
    if name == "fashion-mnist":
        (X_train, y_train), (X_test, y_test) = load_fashion_mnist()
        return X_train, y_train, X_test, y_test, None
    classes = None
    if name.endswith(".npz") and _is_sparse_file(name):
        X = _read_sparse(name)
        y = _labels(_read_npy(name[:-len(".npz")] + ".labels.npy", name), name)
        if len(y) != X.shape[0]:
            raise CommandError(f"{name}: {X.shape[0]} rows, but {len(y)} labels beside it")
    elif name.endswith(".npz"):
        data = _read_npz(name, ("X", "y"), ("X_test", "y_test"))
        if "X_test" in data and "y_test" in data:
            return (data["X"], _labels(data["y"], name), data["X_test"],
                    _labels(data["y_test"], name), None)
        X, y = data["X"], _labels(data["y"], name)
    elif name.endswith(".csv"):
        X, y = read_csv(name)
        if X.shape[1] == 0:
            raise CommandError(f"{name}: expected at least two columns (features, then the "
                               f"label)")
        if y.dtype.kind == "U":
            classes, y = np.unique(y, return_inverse=True)
            _check_classes(classes.tolist(), name)
        else:
            y = _labels(y, name)
    else:
        raise CommandError(f"--data must be digits, fashion-mnist, a .npz or a .csv file; "
                           f"got {name!r}")
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=test_size, seed=seed)
    return X_train, y_train, X_test, y_test, classes


def _check_classes(classes, path):
    """Class names as a model file may hold them (see ``SavedState.strings``)."""
    if len(classes) < 2:
        raise CommandError(f"{path}: the labels name {len(classes)} class; a classifier "
                           f"needs at least two")
    for name in classes:
        if not 0 < len(name) <= MAX_CLASS_CHARS or not name.isprintable():
            raise CommandError(f"{path}: class names must be 1 to {MAX_CLASS_CHARS} "
                               f"printable characters; got {name!r:.100}")


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


def _is_sparse_file(path):
    """Whether a .npz file is one of ``scipy.sparse.save_npz`` (its ``format`` entry)."""
    try:
        with np.load(path, allow_pickle=False) as data:
            return {"format", "shape", "data"} <= set(data.files) and "X" not in data.files
    except (OSError, zipfile.BadZipFile, EOFError, ValueError):
        return False  # _read_npz says what is wrong


def _read_sparse(path):
    """The sparse matrix of a ``scipy.sparse.save_npz`` file, as CSR."""
    try:
        import scipy.sparse
    except ImportError:
        raise CommandError(f"{path}: sparse data needs SciPy (pip install scipy)") from None
    try:
        return scipy.sparse.load_npz(path).tocsr()
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as error:
        raise CommandError(f"{path}: not a readable sparse .npz file ({error})") from None


def _read_npy(path, data):
    try:
        return np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise CommandError(f"{data}: sparse data needs its labels beside it, in {path}"
                           ) from None
    except (OSError, ValueError) as error:
        raise CommandError(f"{path}: not a readable .npy file ({error})") from None


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


def _inputs(name, n_inputs):
    """The inputs to predict for: a data set's test part, or all rows of a file (a CSV
    of the features only, or of the features then a label)."""
    if name.endswith(".npz"):
        return _read_sparse(name) if _is_sparse_file(name) else _read_npz(name, ("X",))["X"]
    if not name.endswith(".csv"):
        return load_data(name)[2]
    features, last = read_csv(name)
    columns = features.shape[1] + 1
    if columns == n_inputs + 1:
        return features  # the last column is a label
    if columns != n_inputs:
        raise CommandError(f"{name}: {columns} columns, while the model takes {n_inputs} "
                           f"features (optionally followed by a label column)")
    if last.dtype.kind == "U":
        raise CommandError(f"{name}: column {columns} holds text; the model takes "
                           f"{n_inputs} numeric features")
    return np.c_[features, last]


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
    formatter = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(
        prog="fastbp", formatter_class=formatter, epilog=EPILOG,
        description="Train fully-connected networks on the CPU. Without a command: train "
                    "64-128-10 on the bundled 8x8 digits (1,797 images) and print per-epoch "
                    "loss and accuracy and the final test accuracy.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    _add_training_options(parser)
    commands = parser.add_subparsers(dest="command")

    train = commands.add_parser("train", help="train a network and save it",
                                formatter_class=formatter, epilog=EPILOG,
                                description="Train a network, print a table per epoch and "
                                            "the final test metrics, save the model.")
    train.add_argument("--data", default="digits", help=DATA_HELP)
    train.add_argument("--test-size", type=float, default=DEFAULT_TEST_SIZE,
                       help="held-out fraction when the data has no test part (default "
                            f"{DEFAULT_TEST_SIZE}; stored in the model for evaluate)")
    _add_training_options(train)
    train.add_argument("--cost", default="cross_entropy", choices=list(COSTS),
                       help="the cost: cross_entropy (softmax output), binary_cross_entropy "
                            "(one sigmoid output for two classes) or quadratic "
                            "(default: cross_entropy)")
    train.add_argument("--output-activation", default=None, choices=list(ACTIVATIONS),
                       help="default: the one the cost needs (softmax, sigmoid; identity "
                            "for quadratic)")
    train.add_argument("--optimizer", default="sgd", choices=list(OPTIMIZERS),
                       help="sgd (with --momentum, --nesterov), adam, adamw (Adam with "
                            "decoupled --weight-decay) or rmsprop (with --rho, --momentum) "
                            "(default: sgd)")
    train.add_argument("--momentum", type=float, default=0.0,
                       help="SGD's or RMSprop's momentum in [0, 1) (default: 0, none)")
    train.add_argument("--rho", type=float, default=0.99,
                       help="RMSprop's decay of the mean square gradient (default: 0.99)")
    train.add_argument("--nesterov", action="store_true",
                       help="Nesterov's momentum (needs --momentum > 0)")
    train.add_argument("--weight-decay", type=float, default=0.0,
                       help="L2 penalty on the weights, lambda of lambda/2 ||W||^2; for "
                            "adamw the decoupled decay W <- (1 - lr lambda) W (default: 0)")
    train.add_argument("--lr-schedule", default="constant", choices=list(SCHEDULES),
                       help="learning rate over the epochs: constant, step (times 0.1 every "
                            "10 epochs), cosine (annealed over --epochs), invscaling "
                            "(divided by (samples seen + 1)^0.5) or adaptive (divided by 5 "
                            "each time --patience runs out) (default: constant)")
    train.add_argument("--dropout", type=float, default=0.0,
                       help="dropout rate of the hidden layers during training (default: 0)")
    train.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                       help="progress bar over epochs and batches (needs tqdm; default: "
                            "when standard error is a terminal)")
    train.add_argument("--validation-split", type=float, default=0.0,
                       help="fraction of the training samples held out for val_loss "
                            "(default: 0)")
    train.add_argument("--patience", type=int, default=None,
                       help="stop after this many epochs without improvement")
    train.add_argument("--output", "-o", default=None,
                       help=f"model file to write (.npz; default: {DEFAULT_MODEL} in the "
                            f"current directory, which must not exist yet)")
    train.add_argument("--checkpoint", default=None,
                       help="write the training state to this file every --checkpoint-every "
                            "epochs, atomically")
    train.add_argument("--checkpoint-every", type=int, default=1, metavar="N",
                       help="epochs between checkpoints (default: 1)")
    train.add_argument("--resume", action="store_true",
                       help="continue from --checkpoint if it exists (same data and settings "
                            "give the bits of an uninterrupted run)")
    train.add_argument("--plot", default=None,
                       help="write the learning curves to this image (needs matplotlib)")

    evaluate = commands.add_parser(
        "evaluate", help="loss and accuracy of a saved model", formatter_class=formatter,
        epilog=EPILOG, description="Loss and accuracy of a saved model on the test part of "
                                   "a data set, split as the model was trained unless told "
                                   "otherwise.")
    evaluate.add_argument("model", help="a model file written by 'fastbp train'")
    evaluate.add_argument("--data", default="digits", help=DATA_HELP)
    evaluate.add_argument("--test-size", type=float, default=None,
                          help="held-out fraction (default: the model's, else "
                               f"{DEFAULT_TEST_SIZE})")
    evaluate.add_argument("--seed", type=int, default=None,
                          help=f"seed of the split (default: the model's, else {DEFAULT_SEED})")

    info = commands.add_parser(
        "info", help="this machine as fastbp sees it: CPU, kernel variant, threads, caches",
        description="Print the CPU and its vector features, the kernel variant chosen for it "
                    "(FASTBP_KERNEL forces one, FASTBP_KERNEL=tune measures again), how it "
                    "multiplies bfloat16 numbers (--precision bf16-mixed), Numba's threading "
                    "layer, the thread counts, and the cache directories.")
    info.add_argument("--compile", action="store_true",
                      help="also compile (or load) the float32 training kernels, as a "
                           "container image or a cluster job would before its first run")

    predict = commands.add_parser(
        "predict", help="predictions of a saved model", formatter_class=formatter,
        epilog=EPILOG, description="Predictions of a saved model: class labels (the names "
                                   "of a CSV's classes) or output values, one line each.")
    predict.add_argument("model", help="a model file written by 'fastbp train'")
    predict.add_argument("--data", required=True,
                         help="a .npz (array X) or .csv file (features only, or features "
                              "then a label), or a data set's test part")
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
    parser.add_argument("--precision", default="32", choices=PRECISIONS,
                        help="32: float32 throughout; bf16-mixed: bfloat16 operands for "
                             "training's matrix products, float32 sums and weights, dense "
                             "data only (needs a CPU with AVX512-BF16 or AMX, see 'fastbp "
                             "info', or "
                             "FASTBP_BF16=emulated; evaluation stays float32) (default: 32)")


def _train(args, data="digits", save=None):
    if args.command == "train":
        if args.resume and not args.checkpoint:
            raise CommandError("--resume needs --checkpoint")
        if save is None:
            save = DEFAULT_MODEL
            if os.path.lexists(save):
                raise CommandError(f"{save} exists in the current directory; name the model "
                                   f"file with -o (-o {save} replaces it)")
        for option, path in (("output", save), ("checkpoint", args.checkpoint),
                             ("plot", args.plot)):
            if path:
                _check_writable(path, f"--{option}")
    test_size = getattr(args, "test_size", DEFAULT_TEST_SIZE)
    X_train, y_train, X_test, y_test, classes = load_data(data, test_size, args.seed)
    if len(y_train) == 0 or len(y_test) == 0:
        raise CommandError(f"{data}: too few samples to train and test on")
    n_classes = int(max(np.max(y_train), np.max(y_test))) + 1
    kwargs = dict(activation=args.activation, learning_rate=args.learning_rate,
                  batch_size=args.batch_size, threads=args.threads, seed=args.seed,
                  epochs=args.epochs, precision=args.precision, verbose=True)
    cost = getattr(args, "cost", "cross_entropy")
    if args.command == "train":
        kwargs.update(optimizer=args.optimizer, momentum=args.momentum, nesterov=args.nesterov,
                      rho=args.rho,
                      weight_decay=args.weight_decay, lr_schedule=args.lr_schedule,
                      output_activation=args.output_activation, dropout=args.dropout,
                      progress=args.progress)
    n_out = 1 if cost == "binary_cross_entropy" and n_classes <= 2 else n_classes
    _check_memory([X_train.shape[1], *args.hidden, n_out], min(args.batch_size, len(y_train)))
    trainer = Trainer([X_train.shape[1], *args.hidden, n_out], cost, **kwargs)
    print(f"{data}: {len(y_train)} training and {len(y_test)} test samples; {trainer.network}")
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
          f"({elapsed:.2f} s, {trainer.threads_chosen} thread(s), compilation included unless "
          f"cached)")
    if save:
        extra = {"cli_seed": args.seed, "cli_test_size": float(test_size)}
        if classes is not None:
            extra["cli_classes"] = classes
        trainer.save(save, extra=extra)
        print(f"model written to {save}")
    if getattr(args, "plot", None):
        plot_history(trainer.history, args.plot, title=f"{data}: {trainer.network}")
        print(f"learning curves written to {args.plot}")
    return 0


def _load_model(path):
    """(trainer, classes or None, seed, test size) of a model file, every field checked."""
    model = io.load(path)
    # Evaluation and prediction run in float32 whatever the model was trained with: a
    # bf16-mixed model is read on any CPU.
    trainer = Trainer._from_loaded(model, path, precision="32")
    saved = SavedState(model, path)
    n_out = trainer.network.sizes[-1]
    classes = saved.strings("cli_classes", max(n_out, 2), MAX_CLASS_CHARS, default=None)
    seed = saved.integer("cli_seed", 0, 2**63 - 1, default=None)
    test_size = saved.real("cli_test_size", 0, 1, low_open=True, high_open=True, default=None)
    return trainer, classes, seed, test_size


def _evaluate(args):
    trainer, classes, saved_seed, saved_test_size = _load_model(args.model)
    seed = (args.seed if args.seed is not None
            else DEFAULT_SEED if saved_seed is None else saved_seed)
    test_size = (args.test_size if args.test_size is not None
                 else DEFAULT_TEST_SIZE if saved_test_size is None else saved_test_size)
    if saved_seed is not None and (seed, test_size) != (saved_seed, saved_test_size):
        print(f"note: the model was trained on the split with seed {saved_seed} and test "
              f"size {saved_test_size:g}: this test part may hold training samples")
    *_, X_test, y_test, data_classes = load_data(args.data, test_size, seed)
    y_test = _as_model_classes(y_test, data_classes, classes, args.data)
    print(f"{args.data}: {len(y_test)} test samples (split with seed {seed}, test size "
          f"{test_size:g})")
    result = trainer.evaluate(X_test, y_test)
    print("  ".join(f"{key} {value:.4f}" for key, value in result.items()))
    return 0


def _as_model_classes(y, data_classes, classes, path):
    """Class indices of the data's labels as indices into the model's classes."""
    if data_classes is None and classes is None:
        return y
    if data_classes is None or classes is None:
        raise CommandError(f"{path}: the labels are {'names' if classes is None else 'numbers'}"
                           f", while the model was trained on class "
                           f"{'numbers' if classes is None else 'names'}")
    index = {name: i for i, name in enumerate(classes)}
    unknown = sorted(set(data_classes.tolist()) - set(index))
    if unknown:
        raise CommandError(f"{path}: labels {unknown[:5]} are not among the model's classes "
                           f"{classes[:10]}")
    return np.array([index[name] for name in data_classes.tolist()])[y]


def _predict(args):
    if args.output:
        _check_writable(args.output, "--output")
    trainer, classes, _, _ = _load_model(args.model)
    predictions = trainer.predict(_inputs(args.data, trainer.network.sizes[0]))
    rows = np.asarray(predictions).reshape(len(predictions), -1)
    with open(args.output, "w", newline="") if args.output else _stdout() as f:
        if classes is not None:
            csv.writer(f, lineterminator="\n").writerows([classes[i]] for i in _indices(rows))
        else:
            np.savetxt(f, rows, delimiter=",", fmt="%.8g")
    if args.output:
        print(f"{len(predictions)} predictions written to {args.output}")
    return 0


def _indices(rows):
    """Class indices of a model's predictions: its labels, or for outputs of values
    (a quadratic cost) the largest output, or one output above 1/2."""
    if rows.dtype.kind in "iu":
        return rows[:, 0]
    return rows.argmax(axis=1) if rows.shape[1] > 1 else (rows[:, 0] > 0.5).astype(int)


def _stdout():
    """Standard output for a ``with`` block, left open after it."""
    return contextlib.nullcontext(sys.stdout)


def _info(args):
    import numba

    from . import tuning
    from ._config import KERNEL_CACHE_DIR
    from ._threads import threading_layer
    from .pacing import free_cores

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
            ("bf16 products", details["bf16_products"] or
             f"none (--precision bf16-mixed needs AVX512-BF16 or AMX, or "
             f"{tuning.BF16_ENV}=emulated)"),
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
