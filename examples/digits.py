"""Classify the bundled 8x8 digits with a 64-128-10 ReLU/softmax network."""

import time

from fastbp import Trainer
from fastbp.datasets import load_digits, train_test_split

X, y = load_digits()
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, seed=0)

trainer = Trainer([64, 128, 10], activation="relu", cost="cross_entropy",
                  learning_rate=0.1, batch_size=16, seed=0, verbose=True)
start = time.perf_counter()
trainer.fit(X_train, y_train, epochs=30)
print(f"trained in {time.perf_counter() - start:.2f} s on {trainer.threads} threads")
print(f"test accuracy: {trainer.score(X_test, y_test):.4f}")
