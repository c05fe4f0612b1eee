"""The setting of chapter 1 of Michael Nielsen's *Neural Networks and Deep Learning*,
on Fashion-MNIST instead of MNIST: a 784-30-10 network with sigmoid hidden and output
layers, the quadratic cost 1/2 ||a - y||^2, plain mini-batch SGD with mini-batches of
10 and learning rate eta = 3.0, for 30 epochs.

Prints the number of test images classified correctly after each epoch, as the book
does ("Epoch 0: 9129 / 10000" there, for MNIST), and the training time: the sum of the
``fit`` calls, timed with ``time.perf_counter``, after a tiny warm-up fit that compiles
the kernels (or loads them from Numba's on-disk cache) and is reported separately.

    PYTHONPATH=. python examples/nielsen.py [--epochs 30] [--threads N] [--seed 0]
"""

import argparse
import time

from fastbp import Trainer
from fastbp.datasets import load_fashion_mnist

SIZES = [784, 30, 10]
SETTINGS = dict(cost="quadratic", activation="sigmoid", output_activation="sigmoid",
                learning_rate=3.0, batch_size=10)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--threads", type=int, default=None,
                        help="threads per batch (default: all cores)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    (X_train, y_train), (X_test, y_test) = load_fashion_mnist()
    n_test = len(X_test)

    start = time.perf_counter()
    warm = Trainer(SIZES, threads=args.threads, seed=args.seed, **SETTINGS)
    warm.fit(X_train[:100], y_train[:100], epochs=1)
    warm.predict(X_test[:100])
    print(f"warm-up (compile or load cached kernels): {time.perf_counter() - start:.2f} s")

    trainer = Trainer(SIZES, threads=args.threads, seed=args.seed, **SETTINGS)
    print(f"{'-'.join(map(str, SIZES))}, {SETTINGS}, seed {args.seed}, "
          f"{trainer.threads} threads")
    train_time = 0.0
    for epoch in range(args.epochs):
        start = time.perf_counter()
        trainer.fit(X_train, y_train, epochs=1)
        train_time += time.perf_counter() - start
        correct = int((trainer.predict(X_test) == y_test).sum())
        print(f"Epoch {epoch}: {correct} / {n_test}", flush=True)
    print(f"training time: {train_time:.2f} s for {args.epochs} epochs "
          f"({train_time / max(args.epochs, 1):.2f} s/epoch; excludes the warm-up "
          f"compile and the test evaluations)")


if __name__ == "__main__":
    main()
