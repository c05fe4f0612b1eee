"""Optimisers against their textbook update formulas, on a tiny problem in float64, and
AdamW and RMSprop against PyTorch's where it is installed."""

import math

import naive
import numpy as np
import pytest
from conftest import OPTIMIZER_NAMES

from fastbp import Network, Trainer


def reference_steps(net, X, Y, batches, optimizer, eta, mu=0.0, nesterov=False, b1=0.9,
                    b2=0.999, eps=1e-8, rho=0.99, decay=0.0, lazy=False):
    """Apply the textbook updates for the given batches (lists of sample indices). With
    ``lazy`` (sparse inputs, see ``fastbp.kernels.sparse``), the columns of W[1] of the
    features that are zero in all of a batch, and their state, keep their values."""
    weights = [np.array(W, np.float64) for W in net.weights]
    biases = [np.array(b, np.float64) for b in net.biases]
    params = weights + biases
    s1 = [np.zeros_like(p) for p in params]
    s2 = [np.zeros_like(p) for p in params]
    decoupled = optimizer == "adamw"  # AdamW: W shrinks, the gradient holds no decay
    for t, batch in enumerate(batches, start=1):
        grad_w, grad_b = naive.backprop(weights, biases, net.activations, "cross_entropy",
                                        X[batch], Y[batch])
        grads = [g + (0.0 if decoupled else decay) * W for g, W in zip(grad_w, weights)] + grad_b
        absent = np.flatnonzero(~X[batch].any(axis=0))
        for i, (p, g, v, s) in enumerate(zip(params, grads, s1, s2)):
            kept = [a[:, absent].copy() for a in (p, v, s)] if lazy and i == 0 else ()
            _textbook_update(optimizer, p, g, v, s, t, eta, mu, nesterov, b1, b2, eps, rho,
                             decay if decoupled and i < len(weights) else 0.0)
            for a, old in zip((p, v, s), kept):
                a[:, absent] = old
    return weights, biases


def _textbook_update(optimizer, p, g, v, s, t, eta, mu, nesterov, b1, b2, eps, rho,
                     decoupled_decay):
    """One parameter array's update in place (AdamW shrinks p by ``decoupled_decay``)."""
    if optimizer in ("adam", "adamw"):
        if decoupled_decay:
            p *= 1 - eta * decoupled_decay
        v[...] = b1 * v + (1 - b1) * g
        s[...] = b2 * s + (1 - b2) * g * g
        p -= eta * (v / (1 - b1 ** t)) / (np.sqrt(s / (1 - b2 ** t)) + eps)
    elif optimizer == "rmsprop":
        s[...] = rho * s + (1 - rho) * g * g
        r = g / (np.sqrt(s) + eps)
        if mu:
            v[...] = mu * v + r
            r = v
        p -= eta * r
    elif mu == 0:
        p -= eta * g
    else:
        v[...] = mu * v - eta * g
        p += mu * v - eta * g if nesterov else v


SETTINGS = [
    dict(optimizer="sgd"),
    dict(optimizer="sgd", weight_decay=0.01),
    dict(optimizer="sgd", momentum=0.9),
    dict(optimizer="sgd", momentum=0.8, nesterov=True),
    dict(optimizer="sgd", momentum=0.9, weight_decay=0.05),
    dict(optimizer="adam"),
    dict(optimizer="adam", beta1=0.8, beta2=0.99, epsilon=1e-6, weight_decay=0.01),
    dict(optimizer="adamw"),
    dict(optimizer="adamw", beta1=0.8, beta2=0.99, epsilon=1e-6, weight_decay=0.1),
    dict(optimizer="rmsprop"),
    dict(optimizer="rmsprop", rho=0.9, epsilon=1e-6, weight_decay=0.01),
    dict(optimizer="rmsprop", momentum=0.9, weight_decay=0.05),
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
              eps=settings.get("epsilon", 1e-8), rho=settings.get("rho", 0.99),
              decay=settings.get("weight_decay", 0.0))
    weights, biases = reference_steps(net, X, Y, batches, settings["optimizer"], eta, **kw)
    trainer.fit(X, y, epochs=1)
    trainer.fit(X, y, epochs=1)  # continuing keeps the optimiser's state
    for l in range(net.n_layers):
        np.testing.assert_allclose(net.weights[l], weights[l], rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(net.biases[l], biases[l], rtol=1e-10, atol=1e-12)


def test_every_optimiser_of_the_registry_is_tested():
    assert {settings["optimizer"] for settings in SETTINGS} == set(OPTIMIZER_NAMES)


TORCH_SETTINGS = [s for s in SETTINGS if s["optimizer"] in ("adamw", "rmsprop")]


@pytest.mark.parametrize("settings", TORCH_SETTINGS, ids=_name)
def test_updates_match_torch(rng, settings):
    """AdamW and RMSprop as PyTorch's: a few steps of the same network, in float64, with
    the decay on the weights only (a parameter group of biases without it)."""
    torch = pytest.importorskip("torch")
    net = Network([4, 6, 3], "tanh", "softmax", dtype=np.float64, seed=0)
    X = rng.standard_normal((10, 4))
    y = rng.integers(0, 3, 10)
    eta, decay = 0.05, settings.get("weight_decay", 0.0)
    weights = [torch.tensor(np.array(W), requires_grad=True) for W in net.weights]
    biases = [torch.tensor(np.array(b), requires_grad=True) for b in net.biases]
    groups = [{"params": weights, "weight_decay": decay}, {"params": biases, "weight_decay": 0}]
    eps = settings.get("epsilon", 1e-8)
    if settings["optimizer"] == "adamw":
        optimizer = torch.optim.AdamW(groups, lr=eta, eps=eps, betas=(
            settings.get("beta1", 0.9), settings.get("beta2", 0.999)))
    else:
        optimizer = torch.optim.RMSprop(groups, lr=eta, eps=eps, alpha=settings.get("rho", 0.99),
                                        momentum=settings.get("momentum", 0.0))
    X_t, y_t = torch.tensor(X), torch.tensor(y)
    for _ in range(2):
        for start in range(0, 10, 4):  # the trainer's batches without shuffling
            optimizer.zero_grad()
            a = torch.tanh(X_t[start:start + 4] @ weights[0].T + biases[0])
            logits = a @ weights[1].T + biases[1]
            torch.nn.functional.cross_entropy(logits, y_t[start:start + 4]).backward()
            optimizer.step()
    Trainer(net, learning_rate=eta, batch_size=4, shuffle=False, **settings).fit(X, y, epochs=2)
    for ours, theirs in zip(list(net.weights) + list(net.biases), weights + biases):
        np.testing.assert_allclose(ours, theirs.detach().numpy(), rtol=1e-9, atol=1e-12)


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
                     dict(optimizer="adam", learning_rate=0.001),
                     dict(optimizer="adamw", learning_rate=0.001, weight_decay=0.01),
                     dict(optimizer="rmsprop", learning_rate=0.001)):
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
    (dict(optimizer="rms"), ValueError, "optimizer must be one of"),
    (dict(momentum=1.0), ValueError, r"momentum must be in \[0, 1\)"),
    (dict(momentum=-0.1), ValueError, "momentum must be in"),
    (dict(nesterov=True), ValueError, "nesterov=True needs optimizer='sgd' and momentum > 0"),
    (dict(optimizer="adam", momentum=0.9), ValueError, "momentum is for optimizer='sgd'"),
    (dict(optimizer="adamw", momentum=0.9), ValueError,
     "momentum is for optimizer='sgd' or 'rmsprop'; 'adamw' reads beta1, beta2, epsilon"),
    (dict(optimizer="rmsprop", momentum=0.5, nesterov=True), ValueError,
     "nesterov=True needs optimizer='sgd'"),
    (dict(optimizer="rmsprop", rho=1.0), ValueError, r"rho must be in \[0, 1\)"),
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
