"""Optimisers against their textbook update formulas, on a tiny problem in float64."""

import math

import naive
import numpy as np
import pytest

from fastbp import Network, Trainer


def reference_steps(net, X, Y, batches, optimizer, eta, mu=0.0, nesterov=False, b1=0.9,
                    b2=0.999, eps=1e-8, decay=0.0):
    """Apply the textbook updates for the given batches (lists of sample indices)."""
    weights = [np.array(W, np.float64) for W in net.weights]
    biases = [np.array(b, np.float64) for b in net.biases]
    params = weights + biases
    s1 = [np.zeros_like(p) for p in params]
    s2 = [np.zeros_like(p) for p in params]
    for t, batch in enumerate(batches, start=1):
        grad_w, grad_b = naive.backprop(weights, biases, net.activations, "cross_entropy",
                                        X[batch], Y[batch])
        grads = [g + decay * W for g, W in zip(grad_w, weights)] + grad_b
        for p, g, v, s in zip(params, grads, s1, s2):
            if optimizer == "adam":
                v[...] = b1 * v + (1 - b1) * g
                s[...] = b2 * s + (1 - b2) * g * g
                p -= eta * (v / (1 - b1 ** t)) / (np.sqrt(s / (1 - b2 ** t)) + eps)
            elif mu == 0:
                p -= eta * g
            else:
                v[...] = mu * v - eta * g
                p += mu * v - eta * g if nesterov else v
    return weights, biases


SETTINGS = [
    dict(optimizer="sgd"),
    dict(optimizer="sgd", weight_decay=0.01),
    dict(optimizer="sgd", momentum=0.9),
    dict(optimizer="sgd", momentum=0.8, nesterov=True),
    dict(optimizer="sgd", momentum=0.9, weight_decay=0.05),
    dict(optimizer="adam"),
    dict(optimizer="adam", beta1=0.8, beta2=0.99, epsilon=1e-6, weight_decay=0.01),
]


def _name(settings):
    return "-".join(f"{key}={value}" for key, value in settings.items())


@pytest.mark.parametrize("settings", SETTINGS, ids=_name)
def test_updates_follow_the_textbook_formulas(rng, settings):
    net = Network([4, 6, 3], "tanh", "softmax", dtype=np.float64, seed=0)
    X = rng.standard_normal((10, 4))
    y = rng.integers(0, 3, 10)
    Y = naive.one_hot(y, 3)
    eta = 0.05
    trainer = Trainer(net, learning_rate=eta, batch_size=4, seed=5, **settings)
    order = np.random.default_rng(5)
    batches = []
    for _ in range(2):  # two epochs of 3 batches: the state carries over between them
        perm = order.permutation(10)
        batches += [perm[i:i + 4] for i in range(0, 10, 4)]
    kw = dict(mu=settings.get("momentum", 0.0), nesterov=settings.get("nesterov", False),
              b1=settings.get("beta1", 0.9), b2=settings.get("beta2", 0.999),
              eps=settings.get("epsilon", 1e-8), decay=settings.get("weight_decay", 0.0))
    weights, biases = reference_steps(net, X, Y, batches, settings["optimizer"], eta, **kw)
    trainer.fit(X, y, epochs=1)
    trainer.fit(X, y, epochs=1)  # continuing keeps the optimiser's state
    for l in range(net.n_layers):
        np.testing.assert_allclose(net.weights[l], weights[l], rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(net.biases[l], biases[l], rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("settings", SETTINGS[1:], ids=_name)
def test_optimisers_are_bit_identical_across_threads(rng, settings):
    X = rng.standard_normal((61, 9)).astype(np.float32)
    y = rng.integers(0, 4, 61)
    results = []
    for threads in (1, 2):
        trainer = Trainer([9, 17, 4], learning_rate=0.01, batch_size=8, seed=1,
                          threads=threads, **settings)
        trainer.fit(X, y, epochs=3)
        results.append(trainer.network.params.copy())
    np.testing.assert_array_equal(results[0], results[1])


def test_learning_rate_schedules():
    X = np.zeros((4, 2), np.float32)
    y = np.array([0, 1, 0, 1])
    step = Trainer([2, 2], learning_rate=1.0, lr_schedule="step", lr_step_size=2,
                   lr_gamma=0.5, epochs=6)
    assert step.fit(X, y)["learning_rate"] == [1.0, 1.0, 0.5, 0.5, 0.25, 0.25]
    cosine = Trainer([2, 2], learning_rate=1.0, lr_schedule="cosine", epochs=4)
    rates = cosine.fit(X, y)["learning_rate"]
    assert rates == pytest.approx([0.5 * (1 + math.cos(math.pi * e / 4)) for e in range(4)])
    assert cosine.fit(X, y, epochs=1)["learning_rate"] == pytest.approx([rates[-1]])
    constant = Trainer([2, 2], learning_rate=0.3, epochs=2)
    assert constant.fit(X, y)["learning_rate"] == [0.3, 0.3]


def test_momentum_and_adam_train_the_digits():
    from fastbp.datasets import load_digits, train_test_split
    X, y = load_digits()
    X_train, X_test, y_train, y_test = train_test_split(X, y, seed=0)
    for settings in (dict(optimizer="sgd", momentum=0.9, nesterov=True, learning_rate=0.01),
                     dict(optimizer="adam", learning_rate=0.001)):
        trainer = Trainer([64, 64, 10], batch_size=32, seed=0, **settings)
        trainer.fit(X_train, y_train, epochs=20)
        assert trainer.score(X_test, y_test) > 0.93, settings


def test_invscaling_divides_by_the_samples_seen_as_scikit_learn(tmp_path):
    X = np.zeros((4, 2), np.float32)
    y = np.array([0, 1, 0, 1])
    trainer = Trainer([2, 2], learning_rate=1.0, lr_schedule="invscaling", power_t=0.25,
                      epochs=3)
    # eta / (t + 1) ** power_t, t the samples trained on before the epoch
    assert trainer.fit(X, y)["learning_rate"] == pytest.approx([1.0, 5 ** -0.25, 9 ** -0.25])
    trainer.save(tmp_path / "t.npz")
    loaded = Trainer.load(tmp_path / "t.npz")
    assert (loaded.optimizer.samples, loaded.optimizer.power_t) == (12, 0.25)
    assert loaded.fit(X[:2], y[:2], epochs=2)["learning_rate"] == pytest.approx(
        [13 ** -0.25, 15 ** -0.25])


def test_adaptive_divides_by_5_on_each_plateau_and_stops_below_1e_6(tmp_path, capsys):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((64, 3)).astype(np.float32)
    y = (X[:, 0] > 0).astype(int)
    trainer = Trainer([3, 4, 2], learning_rate=1e-3, lr_schedule="adaptive", batch_size=64,
                      seed=0, verbose=True)
    # min_delta=10: no epoch after the first counts as an improvement
    history = trainer.fit(X, y, epochs=50, patience=2, min_delta=10.0)
    rates = [1e-3] * 3 + [2e-4] * 2 + [4e-5] * 2 + [8e-6] * 2 + [1.6e-6] * 2 + [3.2e-7] * 2
    assert history["learning_rate"] == pytest.approx(rates)
    assert trainer.stopped_epoch == 13 and trainer.best_epoch == 1
    out = capsys.readouterr().out
    assert "loss has not improved for 2 epochs: learning rate 0.0002" in out
    assert "early stopping at epoch 13" in out
    trainer.save(tmp_path / "t.npz")
    assert Trainer.load(tmp_path / "t.npz").optimizer.scale == pytest.approx(5.0 ** -5)
    # other schedules stop at the first plateau
    assert len(Trainer([3, 4, 2], learning_rate=1e-3, batch_size=64, seed=0).fit(
        X, y, epochs=50, patience=2, min_delta=10.0)["loss"]) == 3


def test_shuffle_false_visits_the_samples_in_order():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((40, 3)).astype(np.float32)
    y = (X[:, 0] > 0).astype(int)
    net = Network([3, 4, 2], seed=0)
    a, b, c = (Trainer(net.copy(), batch_size=8, seed=seed, shuffle=shuffle)
               for seed, shuffle in ((1, False), (2, False), (1, True)))
    for trainer in (a, b, c):
        trainer.fit(X, y, epochs=2)
    np.testing.assert_array_equal(a.network.params, b.network.params)  # no seed's order
    assert not np.array_equal(a.network.params, c.network.params)


@pytest.mark.parametrize("kwargs,error,match", [
    (dict(optimizer="rmsprop"), ValueError, "optimizer must be one of"),
    (dict(momentum=1.0), ValueError, r"momentum must be in \[0, 1\)"),
    (dict(momentum=-0.1), ValueError, "momentum must be in"),
    (dict(nesterov=True), ValueError, "nesterov=True needs optimizer='sgd' and momentum > 0"),
    (dict(optimizer="adam", momentum=0.9), ValueError, "momentum is for optimizer='sgd'"),
    (dict(optimizer="adam", beta2=1.5), ValueError, "beta2 must be in"),
    (dict(optimizer="adam", epsilon=0), ValueError, "epsilon must be a finite number > 0"),
    (dict(weight_decay=-1), ValueError, "weight_decay must be a finite number > 0"),
    (dict(lr_schedule="warm"), ValueError, "lr_schedule must be one of"),
    (dict(lr_schedule="step", lr_step_size=0), ValueError, "lr_step_size must be >= 1"),
    (dict(lr_gamma=0), ValueError, "lr_gamma must be a finite number > 0"),
    (dict(power_t=-0.5), ValueError, "power_t must be a finite number > 0"),
])
def test_bad_optimiser_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        Trainer([3, 2], **kwargs)
