"""Inverted dropout: the masks' statistics, training against the reference with the same
masks and against finite differences, thread-count independence, off at prediction."""

import naive
import numpy as np
import pytest
from conftest import HIDDEN_ACTIVATIONS, shared_by_neurons

from fastbp import Network, Trainer
from fastbp.kernels.dropout import dropout_mask, effective_rate


def test_mask_statistics():
    rate, m, n = 0.3, 400, 250
    mask = dropout_mask(12345, 7, m, 0, n, rate)
    assert mask.shape == (m, n) and set(np.unique(mask)) <= {0, 1}
    kept = mask.mean()
    # 100,000 Bernoulli(0.7) draws: the standard deviation of the mean is 0.0014.
    assert abs(kept - (1 - rate)) < 0.01
    # Neither units nor samples are correlated: per-row and per-column rates spread as
    # binomials would (standard deviations 0.029 and 0.023).
    assert mask.mean(axis=1).std() < 0.045 and mask.mean(axis=0).std() < 0.035
    assert abs(np.corrcoef(mask[:, :-1].ravel(), mask[:, 1:].ravel())[0, 1]) < 0.02
    assert abs(np.corrcoef(mask[:-1].ravel(), mask[1:].ravel())[0, 1]) < 0.02
    # Same arguments, same mask; another step, layer or seed, another mask.
    np.testing.assert_array_equal(mask, dropout_mask(12345, 7, m, 0, n, rate))
    for other in (dropout_mask(12345, 8, m, 0, n, rate), dropout_mask(12345, 7, m, 1, n, rate),
                  dropout_mask(12346, 7, m, 0, n, rate)):
        assert 0.3 < (other == mask).mean() < 0.7  # agree as independent draws would (0.58)
    assert dropout_mask(1, 1, 50, 0, 50, 0.0).all()
    assert effective_rate(0.5) == 0.5 and 0.2 <= effective_rate(0.2) < 0.2 + 2 ** -16


def masks_of(trainer, t, m):
    """The scaled masks M[l] / (1 - p_l) of the hidden layers at step ``t``."""
    net = trainer.network
    return [dropout_mask(trainer._drop_seed, t, m, l, net.sizes[l + 1], rate)
            / (1 - effective_rate(rate)) for l, rate in enumerate(trainer.dropout)]


@pytest.mark.parametrize("hidden", HIDDEN_ACTIVATIONS)
def test_training_matches_reference_with_the_same_masks(rng, hidden):
    """Two epochs of SGD with dropout (0.5 and 0.2 on two hidden layers) against the
    reference given the masks the kernels draw, step by step; float64."""
    net = Network([5, 16, 9, 3], hidden, "softmax", dtype=np.float64, seed=2)
    n, batch_size, eta, seed = 23, 6, 0.2, 4
    X = rng.standard_normal((n, 5))
    y = rng.integers(0, 3, n)
    Y = naive.one_hot(y, 3)
    weights = [W.copy() for W in net.weights]
    biases = [b.copy() for b in net.biases]
    trainer = Trainer(net, "cross_entropy", learning_rate=eta, batch_size=batch_size,
                      seed=seed, dropout=[0.5, 0.2])
    history = trainer.fit(X, y, epochs=2)
    shuffles = np.random.default_rng(seed)
    t, losses = 0, []
    for _ in range(2):
        order, total = shuffles.permutation(n), 0.0
        for start in range(0, n, batch_size):
            batch = order[start:start + batch_size]
            t += 1
            masks = masks_of(trainer, t, len(batch))
            _, As = naive.forward(weights, biases, net.activations, X[batch], masks)
            total += naive.cost(As[-1], Y[batch], "cross_entropy") * len(batch)
            grad_w, grad_b = naive.backprop(weights, biases, net.activations, "cross_entropy",
                                            X[batch], Y[batch], masks=masks)
            for l in range(3):
                weights[l] -= eta * grad_w[l]
                biases[l] -= eta * grad_b[l]
        losses.append(total / n)
    for l in range(3):
        np.testing.assert_allclose(net.weights[l], weights[l], rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(net.biases[l], biases[l], rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(history["loss"], losses, rtol=1e-10)


@pytest.mark.parametrize("hidden", HIDDEN_ACTIVATIONS)
def test_dropout_step_agrees_with_central_differences(rng, hidden):
    """One full-batch SGD step with dropout moves the parameters by -eta times the
    gradient of the masked network's cost; that gradient by central differences."""
    net = Network([4, 7, 3], hidden, "softmax", dtype=np.float64, seed=5)
    for b in net.biases:
        b[...] = 0.1 * rng.standard_normal(b.shape)
    X = rng.standard_normal((8, 4))
    y = rng.integers(0, 3, 8)
    Y = naive.one_hot(y, 3)
    before = [p.copy() for pair in zip(net.weights, net.biases) for p in pair]
    eta = 1e-3
    trainer = Trainer(net, "cross_entropy", learning_rate=eta, batch_size=8, seed=3,
                      dropout=0.4)
    order = np.random.default_rng(3).permutation(8)
    trainer.fit(X, y, epochs=1)
    after = [p for pair in zip(net.weights, net.biases) for p in pair]
    analytic = np.concatenate([((b - a) / eta).ravel() for b, a in zip(before, after)])
    masks = masks_of(trainer, 1, 8)
    params = [p.copy() for p in before]

    def cost():
        _, As = naive.forward(params[0::2], params[1::2], net.activations, X[order], masks)
        return naive.cost(As[-1], Y[order], "cross_entropy")

    numeric, h = [], 1e-6
    for p in params:
        for i in np.ndindex(p.shape):
            saved = p[i]
            p[i] = saved + h
            c_plus = cost()
            p[i] = saved - h
            c_minus = cost()
            p[i] = saved
            numeric.append((c_plus - c_minus) / (2 * h))
    # The update divides by eta and so loses digits: |W| ~ 1 against eta g ~ 1e-3 g.
    np.testing.assert_allclose(analytic, numeric, rtol=1e-5, atol=1e-8)
    assert masks[0].min() == 0 and np.abs(analytic).max() > 1e-3


def train(threads, by_neuron, dtype=np.float32):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((101, 20)).astype(dtype)
    y = rng.integers(0, 5, 101)
    trainer = Trainer([20, 33, 40, 5], activation="sigmoid", batch_size=13, learning_rate=0.1,
                      threads=threads, seed=1, dtype=dtype, dropout=0.25, optimizer="adam")
    with shared_by_neurons(by_neuron):
        history = trainer.fit(X, y, epochs=2)
    return trainer, history


def test_same_bits_for_every_thread_count_and_sharing():
    reference, history = train(1, False)
    for threads in (1, 2):
        for by_neuron in (False, True):
            trainer, h = train(threads, by_neuron)
            np.testing.assert_array_equal(trainer.network.params, reference.network.params)
            assert h == history


def test_prediction_uses_the_whole_network(rng):
    trainer, _ = train(None, False)
    X = rng.standard_normal((30, 20)).astype(np.float32)
    proba = trainer.predict_proba(X)
    np.testing.assert_array_equal(proba, trainer.network.forward(X))
    np.testing.assert_array_equal(proba, trainer.predict_proba(X))  # no masks drawn
    plain = Trainer(trainer.network, "cross_entropy")
    y = rng.integers(0, 5, 30)
    assert trainer.evaluate(X, y) == plain.evaluate(X, y)


def test_dropout_changes_training_and_regularises():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((60, 20)).astype(np.float32)
    y = rng.integers(0, 5, 60)  # noise: only memorisable
    results = {}
    for rate in (0.0, 0.5):
        trainer = Trainer([20, 64, 5], learning_rate=0.1, batch_size=10, seed=0, dropout=rate)
        trainer.fit(X, y, epochs=40)
        results[rate] = trainer.evaluate(X, y)["loss"]
    # Without dropout the noise is memorised further than with it.
    assert results[0.0] < results[0.5]


def test_saved_and_loaded_trainer_continues_with_the_same_masks(tmp_path):
    trainer, _ = train(None, False)
    path = tmp_path / "model.npz"
    trainer.save(path)
    loaded = Trainer.load(path)
    assert loaded.dropout == trainer.dropout and loaded._drop_seed == trainer._drop_seed
    rng = np.random.default_rng(0)
    X = rng.standard_normal((101, 20)).astype(np.float32)
    y = rng.integers(0, 5, 101)
    trainer.fit(X, y, epochs=1)
    loaded.fit(X, y, epochs=1)
    np.testing.assert_array_equal(loaded.network.params, trainer.network.params)


@pytest.mark.parametrize("dropout,error,match", [
    (1.0, ValueError, r"dropout must be in \[0, 1\)"),
    (-0.1, ValueError, r"dropout must be in \[0, 1\)"),
    ("0.5", TypeError, "dropout must be a number"),
    ([0.1], ValueError, "2 rates"),
    ([0.1, 1.5], ValueError, r"dropout\[1\] must be in"),
    ([0.1, None], TypeError, r"dropout\[1\] must be a real number"),
])
def test_bad_dropout(dropout, error, match):
    with pytest.raises(error, match=match):
        Trainer([4, 5, 6, 2], dropout=dropout)


def test_dropout_needs_a_hidden_layer():
    with pytest.raises(ValueError, match="has none"):
        Trainer([4, 2], dropout=0.5)
    assert Trainer([4, 2], dropout=0.0).dropout == ()
