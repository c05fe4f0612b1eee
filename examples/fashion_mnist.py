"""Classify Fashion-MNIST (60,000 training / 10,000 test images) with a 784-256-128-10
ReLU/softmax network trained by Adam with a cosine learning-rate schedule.

Prints the loss and training accuracy of each epoch (measured during the epoch, each
sample before its batch's update) and the test accuracy after it, then the training
time: the sum of the ``fit`` calls, timed with ``time.perf_counter``. The kernels are
compiled (or loaded from Numba's on-disk cache) by a tiny warm-up fit beforehand, whose
time is reported separately; the test evaluations between epochs are not counted.

    PYTHONPATH=. python examples/fashion_mnist.py [--epochs 15] [--threads N]
                                                 [--precision bf16-mixed]

``--precision bf16-mixed`` trains with bfloat16 operands for the matrix products and
float32 sums and weights (needs a CPU with AVX512-BF16, or ``FASTBP_BF16=emulated``);
the test accuracy is computed in float32 either way.

The data come from Debian's ``dataset-fashion-mnist`` package or fastbp's cache (see
``fastbp.datasets.load_fashion_mnist``).
"""

import argparse
import time

from fastbp import Trainer
from fastbp.datasets import load_fashion_mnist

# The configuration; examples/compare_sklearn.py imports it.
SIZES = [784, 256, 128, 10]
SETTINGS = dict(activation="relu", cost="cross_entropy", optimizer="adam",
                learning_rate=1e-3, batch_size=64, lr_schedule="cosine")
EPOCHS = 15
SEED = 0


def make_trainer(epochs, threads=None, seed=SEED, sizes=SIZES, precision="32"):
    """A Trainer with this example's settings; ``epochs`` is the cosine schedule's
    length, so fitting one epoch at a time follows the same schedule as one fit."""
    return Trainer(sizes, epochs=epochs, threads=threads, seed=seed, precision=precision,
                   **SETTINGS)


def warm_up(X, y, threads=None, precision="32"):
    """Compile the kernels (or load them from the cache) with a tiny fit and a tiny
    evaluation on a throwaway trainer; returns the seconds it took."""
    start = time.perf_counter()
    trainer = make_trainer(1, threads=threads, precision=precision)
    trainer.fit(X[:512], y[:512], epochs=1)
    trainer.score(X[:512], y[:512])
    return time.perf_counter() - start


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=EPOCHS)
    parser.add_argument("--threads", type=int, default=None,
                        help="threads per batch (default: all cores)")
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--precision", default="32", choices=["32", "bf16-mixed"],
                        help="bf16-mixed: bfloat16 operands for training's matrix products, "
                             "float32 sums and weights (needs AVX512-BF16; default: 32)")
    args = parser.parse_args(argv)

    start = time.perf_counter()
    (X_train, y_train), (X_test, y_test) = load_fashion_mnist()
    print(f"loaded Fashion-MNIST in {time.perf_counter() - start:.2f} s: "
          f"{len(X_train):,} training and {len(X_test):,} test images")
    seconds = warm_up(X_train, y_train, args.threads, args.precision)
    print(f"warm-up (compile or load cached kernels): {seconds:.2f} s")

    trainer = make_trainer(args.epochs, threads=args.threads, seed=args.seed,
                           precision=args.precision)
    mixed = "" if args.precision == "32" else f", precision {args.precision}"
    print(f"{'-'.join(map(str, SIZES))}, {SETTINGS}, {args.epochs} epochs, "
          f"seed {args.seed}, {trainer.threads} threads{mixed}")
    train_time = 0.0
    for epoch in range(args.epochs):
        start = time.perf_counter()
        history = trainer.fit(X_train, y_train, epochs=1)
        elapsed = time.perf_counter() - start
        train_time += elapsed
        test_accuracy = trainer.score(X_test, y_test)
        print(f"epoch {epoch + 1:3d}  lr {history['learning_rate'][-1]:.2e}  "
              f"loss {history['loss'][-1]:.4f}  accuracy {history['accuracy'][-1]:.4f}  "
              f"test accuracy {test_accuracy:.4f}  ({elapsed:.2f} s)", flush=True)
    print(f"training time: {train_time:.2f} s for {args.epochs} epochs "
          f"({train_time / max(args.epochs, 1):.2f} s/epoch; excludes the warm-up "
          f"compile and the test evaluations)")
    print(f"final test accuracy: {trainer.score(X_test, y_test):.4f}")


if __name__ == "__main__":
    main()
