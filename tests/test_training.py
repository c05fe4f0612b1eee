"""Training end to end: the classic XOR network, the bundled digits, the Trainer API."""

import numpy as np
import pytest

from fastbp import Network, Trainer
from fastbp.datasets import load_digits, train_test_split


def test_xor_network_learns_the_truth_table():
    # The classic NumPy example: inputs with a constant third column, 3-4-1 sigmoid.
    X = np.array([[0, 0, 1], [0, 1, 1], [1, 0, 1], [1, 1, 1]], dtype=np.float32)
    y = np.array([[0], [1], [1], [0]], dtype=np.float32)
    trainer = Trainer(Network([3, 4, 1], "sigmoid", "sigmoid", seed=1), "quadratic",
                      learning_rate=2.0, batch_size=4, seed=0)
    history = trainer.fit(X, y, epochs=5000)
    out = trainer.predict_proba(X)
    np.testing.assert_array_equal(out > 0.5, y > 0.5)
    assert np.abs(out - y).max() < 0.2
    assert history["loss"][-1] < history["loss"][0] / 10


def test_digits_reach_95_percent_test_accuracy():
    X, y = load_digits()
    assert X.shape == (1797, 64) and X.dtype == np.float32 and 0 <= X.min() <= X.max() <= 1
    assert np.array_equal(np.unique(y), np.arange(10))
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, seed=0)
    trainer = Trainer([64, 128, 10], learning_rate=0.1, batch_size=16, seed=0)
    history = trainer.fit(X_train, y_train, epochs=30)
    assert history["loss"][-1] < history["loss"][0]
    assert trainer.score(X_test, y_test) >= 0.95
    assert np.array_equal(trainer.predict(X_test[:5]), trainer.predict_proba(X_test[:5]).argmax(1))


def test_train_test_split_is_stratified_and_disjoint():
    X, y = load_digits()
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.2, seed=4)
    assert len(X_train) + len(X_test) == len(X)
    assert np.abs(np.bincount(y_test) / np.bincount(y) - 0.2).max() < 0.01
    rows = {row.tobytes() for row in X_train}
    assert sum(row.tobytes() in rows for row in X_test) < 10  # the data has a few duplicates


def test_history_evaluate_and_score():
    rng = np.random.default_rng(1)
    X = rng.standard_normal((120, 5)).astype(np.float32)
    y = (X[:, 0] + X[:, 1] > 0).astype(int)
    trainer = Trainer([5, 8, 2], learning_rate=0.5, batch_size=10, epochs=3, seed=0)
    history = trainer.fit(X, y)
    assert set(history) == {"loss", "accuracy", "learning_rate"} and len(history["loss"]) == 3
    trainer.fit(X, y, epochs=2)
    assert len(trainer.history["loss"]) == 5  # fit continues from the current weights
    result = trainer.evaluate(X, y)
    assert set(result) == {"loss", "accuracy"}
    assert result["accuracy"] == pytest.approx(trainer.score(X, y))
    assert result["accuracy"] == pytest.approx(np.mean(trainer.predict(X) == y))
    proba = trainer.predict_proba(X)
    np.testing.assert_allclose(proba.sum(axis=1), 1, rtol=1e-5)


def test_binary_classification_with_one_sigmoid_output():
    rng = np.random.default_rng(2)
    X = rng.standard_normal((200, 3))
    y = (X[:, 0] > 0).astype(int)
    trainer = Trainer([3, 1], "binary_cross_entropy", learning_rate=1.0, batch_size=20, seed=0)
    trainer.fit(X, y, epochs=30)
    assert trainer.network.activations == ("sigmoid",)
    assert set(np.unique(trainer.predict(X))) <= {0, 1}
    assert trainer.score(X, y) > 0.95


def test_regression_with_quadratic_cost():
    rng = np.random.default_rng(3)
    X = rng.uniform(-1, 1, (400, 2))
    y = np.sin(2 * X[:, 0]) + X[:, 1] ** 2
    trainer = Trainer([2, 32, 1], "quadratic", activation="tanh", learning_rate=0.1,
                      batch_size=8, seed=0, dtype=np.float64)
    history = trainer.fit(X, y, epochs=100)
    assert "accuracy" not in history and history["learning_rate"] == [0.1] * 100
    assert trainer.predict(X).shape == (400, 1)
    assert trainer.score(X, y) > 0.95


def test_weights_and_biases_are_readable_and_assignable():
    net = Network([3, 4, 2], "relu", "softmax", seed=0)
    assert [W.shape for W in net.weights] == [(4, 3), (2, 4)]
    assert [b.shape for b in net.biases] == [(4,), (2,)]
    assert all(W.dtype == np.float32 for W in net.weights)
    net.weights[1] = np.ones((2, 4))
    np.testing.assert_array_equal(net.weights[1], 1)
    net.biases = [np.full(4, 0.5), np.zeros(2)]
    np.testing.assert_array_equal(net.biases[0], 0.5)
    X = np.eye(3, dtype=np.float32)
    np.testing.assert_allclose(net.forward(X), 0.5, rtol=1e-6)  # equal logits


def test_initialisation_is_seeded_and_scaled():
    a = Network([100, 200, 10], "relu", seed=0)
    b = Network([100, 200, 10], "relu", seed=0)
    np.testing.assert_array_equal(a.params, b.params)
    assert np.std(a.weights[0]) == pytest.approx(np.sqrt(2 / 100), rel=0.05)  # He
    sig = Network([100, 200, 10], "sigmoid", seed=0)
    limit = np.sqrt(6 / 300)  # Glorot uniform
    assert np.abs(sig.weights[0]).max() <= limit
    assert np.std(sig.weights[0]) == pytest.approx(limit / np.sqrt(3), rel=0.05)
    assert all(np.all(bias == 0) for bias in sig.biases)


def test_float64_training():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((40, 4))
    y = rng.integers(0, 3, 40)
    trainer = Trainer([4, 6, 3], dtype=np.float64, seed=0)
    trainer.fit(X, y, epochs=2)
    assert trainer.network.params.dtype == np.float64
    assert trainer.predict_proba(X).dtype == np.float64
