"""The command line: ``python -m fastbp`` trains 64-128-10 on the bundled 8x8 digits."""

import argparse
import time

from .datasets import load_digits, train_test_split
from .trainer import Trainer


def build_parser():
    parser = argparse.ArgumentParser(
        prog="python -m fastbp",
        description="Train a fully-connected network on the bundled 8x8 digits "
                    "(1,797 images) and print per-epoch loss and accuracy and the "
                    "final test accuracy.")
    parser.add_argument("--hidden", type=int, nargs="*", default=[128],
                        help="hidden layer sizes (default: 128)")
    parser.add_argument("--activation", default="relu",
                        choices=["relu", "sigmoid", "tanh", "identity"],
                        help="hidden activation (default: relu)")
    parser.add_argument("--epochs", type=int, default=30, help="epochs (default: 30)")
    parser.add_argument("--batch-size", type=int, default=16, help="mini-batch size (default: 16)")
    parser.add_argument("--learning-rate", type=float, default=0.1,
                        help="SGD learning rate (default: 0.1)")
    parser.add_argument("--threads", type=int, default=None,
                        help="threads per batch (default: all cores)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    X, y = load_digits()
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, seed=args.seed)
    trainer = Trainer([X.shape[1], *args.hidden, 10], cost="cross_entropy",
                      activation=args.activation, learning_rate=args.learning_rate,
                      batch_size=args.batch_size, threads=args.threads, seed=args.seed)
    print(f"digits: {len(X_train)} training and {len(X_test)} test images; {trainer.network}")
    start = time.perf_counter()
    for epoch in range(1, args.epochs + 1):
        history = trainer.fit(X_train, y_train, epochs=1)
        test = trainer.evaluate(X_test, y_test)
        print(f"epoch {epoch:3d}  loss {history['loss'][0]:.4f}  accuracy "
              f"{history['accuracy'][0]:.4f}  test loss {test['loss']:.4f}  "
              f"test accuracy {test['accuracy']:.4f}")
    elapsed = time.perf_counter() - start
    print(f"final test accuracy: {trainer.score(X_test, y_test):.4f} "
          f"({elapsed:.2f} s, {trainer.threads} threads, compilation included unless cached)")
    return 0
