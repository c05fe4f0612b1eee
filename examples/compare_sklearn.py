"""Train scikit-learn's MLPClassifier and fastbp on Fashion-MNIST with the same
network and settings, one after the other, and print their test accuracy and training
time.

Both train the configuration of examples/fashion_mnist.py: 784-256-128-10, ReLU hidden
layers, softmax output with cross-entropy, Adam (beta1 0.9, beta2 0.999, epsilon 1e-8)
at learning rate 1e-3, mini-batches of 64, shuffled every epoch, float32 data, the
same number of epochs. scikit-learn runs every epoch (``max_iter=epochs``, no early
stopping, ``tol=0``, ``n_iter_no_change=epochs + 1``) and gets no L2 penalty
(``alpha=0``, its default is 1e-4). What differs: fastbp anneals the learning rate
along a cosine (MLPClassifier's Adam only has a constant rate), the initialisations
(He normal against scikit-learn's Glorot uniform) and the shuffling, and fastbp's
kernels run in float32 while scikit-learn runs in the dtype it keeps for float32
input (printed). Times are ``time.perf_counter`` around ``fit``; fastbp's kernels
are compiled (or loaded from Numba's cache) by a warm-up fit first, reported
separately. scikit-learn uses NumPy's BLAS on all cores, fastbp all cores too unless
``--threads`` says otherwise.

    PYTHONPATH=. python examples/compare_sklearn.py [--epochs 15] [--threads N]
"""

import argparse
import os
import sys
import time
import warnings

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from fashion_mnist import EPOCHS, SEED, SETTINGS, SIZES, make_trainer, warm_up

from fastbp.datasets import load_fashion_mnist


def train_sklearn(X_train, y_train, X_test, y_test, epochs, seed):
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    clf = MLPClassifier(hidden_layer_sizes=tuple(SIZES[1:-1]), activation="relu",
                        solver="adam", alpha=0.0, batch_size=SETTINGS["batch_size"],
                        learning_rate_init=SETTINGS["learning_rate"], max_iter=epochs,
                        shuffle=True, random_state=seed, tol=0.0, early_stopping=False,
                        n_iter_no_change=epochs + 1, beta_1=0.9, beta_2=0.999,
                        epsilon=1e-8)
    with warnings.catch_warnings():
        # Reaching max_iter is the point here, not a failure to converge.
        warnings.filterwarnings("ignore", category=ConvergenceWarning)
        start = time.perf_counter()
        clf.fit(X_train, y_train)
        elapsed = time.perf_counter() - start
    print(f"  scikit-learn: {clf.n_iter_} epochs, final loss {clf.loss_:.4f}, "
          f"weights {clf.coefs_[0].dtype}")
    return clf.score(X_test, y_test), elapsed


def train_fastbp(X_train, y_train, X_test, y_test, epochs, seed, threads):
    print(f"  fastbp warm-up (compile or load cached kernels): "
          f"{warm_up(X_train, y_train, threads):.2f} s")
    trainer = make_trainer(epochs, threads=threads, seed=seed)
    start = time.perf_counter()
    history = trainer.fit(X_train, y_train)
    elapsed = time.perf_counter() - start
    print(f"  fastbp: {len(history['loss'])} epochs, final loss {history['loss'][-1]:.4f}, "
          f"{trainer.threads} threads, weights {trainer.network.dtype}")
    return trainer.score(X_test, y_test), elapsed


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=EPOCHS)
    parser.add_argument("--threads", type=int, default=None,
                        help="fastbp's threads per batch (default: all cores)")
    parser.add_argument("--seed", type=int, default=SEED)
    args = parser.parse_args(argv)

    try:
        import sklearn
    except ImportError:
        sys.exit("scikit-learn is not installed; this comparison needs it "
                 "(pip install scikit-learn). examples/fashion_mnist.py runs fastbp alone.")

    (X_train, y_train), (X_test, y_test) = load_fashion_mnist()
    print(f"Fashion-MNIST: {len(X_train):,} training, {len(X_test):,} test images; "
          f"{'-'.join(map(str, SIZES))}, {SETTINGS}, {args.epochs} epochs, seed {args.seed}")

    print(f"training scikit-learn {sklearn.__version__} MLPClassifier ...", flush=True)
    sk_accuracy, sk_time = train_sklearn(X_train, y_train, X_test, y_test,
                                         args.epochs, args.seed)
    print("training fastbp ...", flush=True)
    fb_accuracy, fb_time = train_fastbp(X_train, y_train, X_test, y_test,
                                        args.epochs, args.seed, args.threads)

    print()
    print(f"{'':<14}{'test accuracy':>15}{'training time':>16}{'s/epoch':>10}")
    for name, accuracy, elapsed in (("scikit-learn", sk_accuracy, sk_time),
                                    ("fastbp", fb_accuracy, fb_time)):
        print(f"{name:<14}{accuracy:>15.4f}{elapsed:>14.2f} s"
              f"{elapsed / max(args.epochs, 1):>10.2f}")
    print(f"fastbp is {sk_time / fb_time:.2f}x as fast as scikit-learn "
          f"(training time, excluding fastbp's warm-up compile)")


if __name__ == "__main__":
    main()
