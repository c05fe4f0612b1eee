"""Sparse inputs (SciPy CSR): checked in place, trained on their nonzeros, equal to the
dense path and to the NumPy reference, bit-identical across thread counts, the lazy
optimisers as documented, and everything around fit as for dense inputs."""

import naive
import numpy as np
import pytest
from conftest import shared_by_neurons
from test_optimizers import SETTINGS, reference_steps

from fastbp import Network, Trainer

sp = pytest.importorskip("scipy.sparse")


def sparse_data(rng, n=60, n_features=24, density=0.15, n_classes=3):
    """(CSR X, its dense copy, labels): few nonzeros per row, no explicit zeros."""
    dense = rng.standard_normal((n, n_features)) * (rng.random((n, n_features)) < density)
    return sp.csr_matrix(dense), dense, rng.integers(0, n_classes, n)


def flat(net):
    return np.concatenate([w.ravel() for w in net.weights] + list(net.biases))


def arrays(pair):
    """The weights then the biases of a (weights, biases) pair of lists."""
    return [*pair[0], *pair[1]]


def trained(X, y, sizes=(24, 16, 3), epochs=2, fit_kwargs=None, **kwargs):
    settings = dict(dtype=np.float64, seed=3, batch_size=8, threads=1, learning_rate=0.1)
    trainer = Trainer(list(sizes), **{**settings, **kwargs})
    trainer.fit(X, y, epochs=epochs, **(fit_kwargs or {}))
    return trainer


# -- checks ---------------------------------------------------------------------------

def test_csr_is_used_in_place_and_other_formats_converted(rng):
    X, dense, y = sparse_data(rng)
    trainer = Trainer([24, 8, 3], seed=0)
    X32 = X.astype(np.float32)
    checked, *_ = trainer._check_data(X32, y)
    for ours, theirs in ((checked.data, X32.data), (checked.indices, X32.indices),
                         (checked.indptr, X32.indptr)):
        assert ours is theirs  # no copy
    checked, *_ = trainer._check_data(X, y)  # float64 values: only data is converted
    assert checked.indices is X.indices and checked.data.dtype == np.float32
    for other in (X.tocsc(), X.tocoo(), sp.csr_array(X)):
        checked, *_ = trainer._check_data(other, y)
        np.testing.assert_array_equal(checked.data, X32.data)
        np.testing.assert_array_equal(checked.indices, X.indices)


@pytest.mark.parametrize("damage, match", [
    (lambda X: sp.csr_matrix(X[:, :20]), "must have 24 columns"),
    (lambda X: sp.csr_matrix((0, 24)), "empty"),
    (lambda X: sp.csr_matrix((X.data * np.nan, X.indices, X.indptr), shape=X.shape), "NaN"),
    (lambda X: sp.csr_matrix((X.data * np.inf, X.indices, X.indptr), shape=X.shape), "NaN"),
])
def test_bad_sparse_inputs_are_refused_naming_x(rng, damage, match):
    X, _, y = sparse_data(rng)
    with pytest.raises(ValueError, match=match):
        Trainer([24, 8, 3], seed=0).fit(damage(X), y[:X.shape[0]], epochs=1)


def test_indices_out_of_bounds_or_decreasing_indptr_are_refused(rng):
    X, _, y = sparse_data(rng)
    trainer = Trainer([24, 8, 3], seed=0)
    bad = X.copy()
    bad.indices[3] = 24  # SciPy does not check this when the matrix is built
    with pytest.raises(ValueError, match=r"column index is outside \[0, 24\)"):
        trainer.fit(bad, y, epochs=1)
    bad = X.copy()
    bad.indptr[5], bad.indptr[6] = bad.indptr[6], bad.indptr[5] - 1
    with pytest.raises(ValueError, match="well-formed CSR"):
        trainer.fit(bad, y, epochs=1)


# -- the same numbers as the dense path ------------------------------------------------

def test_sgd_on_csr_equals_the_dense_path_and_the_numpy_reference(rng):
    X, dense, y = sparse_data(rng)
    sparse_run = trained(X, y, shuffle=False)
    dense_run = trained(dense, y, shuffle=False)
    assert sparse_run.network.feature_major and not dense_run.network.feature_major
    np.testing.assert_allclose(flat(sparse_run.network), flat(dense_run.network), rtol=1e-12,
                               atol=1e-14)
    start = Network([24, 16, 3], dtype=np.float64, seed=3)
    weights, biases = list(start.weights), list(start.biases)
    for _ in range(2):
        weights, biases, _ = naive.train_epoch(weights, biases, start.activations,
                                               "cross_entropy", dense, naive.one_hot(y, 3),
                                               np.arange(60), 8, 0.1)
    for l in range(2):
        np.testing.assert_allclose(sparse_run.network.weights[l], weights[l], rtol=1e-10,
                                   atol=1e-12)
        np.testing.assert_allclose(sparse_run.network.biases[l], biases[l], rtol=1e-10,
                                   atol=1e-12)


def test_float64_is_exact_where_every_sum_is_exact():
    """Dyadic inputs, weights and rate, ReLU and the quadratic cost: every product and
    sum is exact in float64 whatever its order, so both paths give the same bits."""
    rng = np.random.default_rng(1)
    dense = rng.integers(-2, 3, (16, 12)) * (rng.random((16, 12)) < 0.3) / 4.0
    Y = rng.integers(-2, 3, (16, 2)) / 2.0
    runs = []
    for X in (sp.csr_matrix(dense), dense):
        net = Network([12, 8, 2], "relu", "identity", dtype=np.float64)
        net.weights = [np.random.default_rng(2).integers(-4, 5, W.shape) / 8.0
                       for W in net.weights]
        trainer = Trainer(net, "quadratic", learning_rate=2.0 ** -6, batch_size=4,
                          shuffle=False, threads=1)
        trainer.fit(X, Y, epochs=1)
        runs.append(flat(net))
    np.testing.assert_array_equal(runs[0], runs[1])


def test_float32_equals_the_dense_path_to_rounding(rng):
    X, dense, y = sparse_data(rng)
    runs = [flat(trained(data, y, dtype=np.float32).network) for data in (X, dense)]
    np.testing.assert_allclose(runs[0], runs[1], rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("settings", [dict(), dict(optimizer="adam", learning_rate=0.01),
                                      dict(dropout=0.3)], ids=["sgd", "adam", "dropout"])
@pytest.mark.parametrize("by_neuron", [False, True], ids=["by-sample", "by-neuron"])
def test_bit_identical_for_any_thread_count(rng, settings, by_neuron):
    X, _, y = sparse_data(rng, n=90)
    with shared_by_neurons(by_neuron):
        runs = [flat(trained(X, y, threads=threads, **settings).network) for threads in (1, 2)]
    np.testing.assert_array_equal(runs[0], runs[1])


def test_dropout_and_sample_weights_as_the_dense_path(rng):
    X, dense, y = sparse_data(rng)
    weight = rng.random(60) * 2
    runs = [flat(trained(data, y, dropout=0.3, fit_kwargs=dict(sample_weight=weight)).network)
            for data in (X, dense)]
    np.testing.assert_allclose(runs[0], runs[1], rtol=1e-12, atol=1e-14)


def test_gradients_evaluate_and_predictions_as_the_dense_path(rng):
    X, dense, y = sparse_data(rng)
    trainer = trained(X, y)  # W[1] now feature-major
    for net_layout in (True, False):
        trainer.network._lay_out(net_layout)
        sparse_grads, dense_grads = trainer.gradients(X, y), trainer.gradients(dense, y)
        for ours, theirs in zip(arrays(sparse_grads), arrays(dense_grads)):
            np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=1e-14)
        reference = naive.backprop(list(trainer.network.weights), list(trainer.network.biases),
                                   trainer.network.activations, "cross_entropy", dense,
                                   naive.one_hot(y, 3))
        for ours, theirs in zip(arrays(sparse_grads), arrays(reference)):
            np.testing.assert_allclose(ours, theirs, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(trainer.predict_proba(X), trainer.predict_proba(dense),
                                   rtol=1e-12)
        assert trainer.evaluate(X, y) == pytest.approx(trainer.evaluate(dense, y), rel=1e-12)
        assert trainer.score(X, y) == trainer.score(dense, y)


# -- the optimisers ---------------------------------------------------------------------

def test_plain_sgd_leaves_the_weights_of_absent_features_untouched(rng):
    X, dense, y = sparse_data(rng)
    dense[:, 5] = 0
    X = sp.csr_matrix(dense)
    start = Network([24, 16, 3], dtype=np.float64, seed=3)
    trainer = trained(X, y)
    np.testing.assert_array_equal(trainer.network.weights[0][:, 5], start.weights[0][:, 5])


@pytest.mark.parametrize("settings", [s for s in SETTINGS if s != dict(optimizer="sgd")],
                         ids=lambda s: "-".join(f"{k}={v}" for k, v in s.items()))
def test_lazy_updates_follow_the_textbook_formulas_on_present_features(rng, settings):
    """Every optimiser but plain SGD updates only the columns of W[1] (and their state)
    of the features present in the batch; W[2..L] and the biases as for dense inputs."""
    net = Network([8, 6, 3], "tanh", "softmax", dtype=np.float64, seed=0)
    dense = rng.standard_normal((10, 8)) * (rng.random((10, 8)) < 0.3)
    y = rng.integers(0, 3, 10)
    eta = 0.05
    trainer = Trainer(net, learning_rate=eta, batch_size=4, seed=5, **settings)
    order = np.random.default_rng(5)
    batches = []
    for _ in range(2):
        perm = order.permutation(10)
        batches += [perm[i:i + 4] for i in range(0, 10, 4)]
    assert any((~dense[batch].any(axis=0)).any() for batch in batches)  # lazy matters
    kw = dict(mu=settings.get("momentum", 0.0), nesterov=settings.get("nesterov", False),
              b1=settings.get("beta1", 0.9), b2=settings.get("beta2", 0.999),
              eps=settings.get("epsilon", 1e-8), rho=settings.get("rho", 0.99),
              decay=settings.get("weight_decay", 0.0))
    weights, biases = reference_steps(net, dense, naive.one_hot(y, 3), batches,
                                      settings["optimizer"], eta, lazy=True, **kw)
    trainer.fit(sp.csr_matrix(dense), y, epochs=1)
    trainer.fit(sp.csr_matrix(dense), y, epochs=1)  # the state carries over
    for l in range(net.n_layers):
        np.testing.assert_allclose(net.weights[l], weights[l], rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(net.biases[l], biases[l], rtol=1e-10, atol=1e-12)


# -- layout, files, resuming --------------------------------------------------------------

def test_weights_keep_their_shape_and_the_layout_follows_the_inputs(rng):
    X, dense, y = sparse_data(rng)
    trainer = trained(X, y, optimizer="adam", learning_rate=0.01)
    net = trainer.network
    assert net.feature_major and net.weights[0].shape == (16, 24)
    before = flat(net)
    state = [net._row_major(buffer).copy() for buffer in trainer.optimizer.state]
    net.weights[0] = net.weights[0] * 1  # assignable through the transposed view
    np.testing.assert_array_equal(flat(net), before)
    trainer.fit(dense, y, epochs=0)  # dense inputs: back to row-major, state with it
    assert not net.feature_major
    np.testing.assert_array_equal(flat(net), before)
    for ours, theirs in zip(trainer.optimizer.state, state):
        np.testing.assert_array_equal(ours, theirs)


def test_save_load_and_resume_continue_exactly(rng, tmp_path):
    X, _, y = sparse_data(rng)
    settings = dict(optimizer="adam", learning_rate=0.01, dropout=0.2)
    trainer = trained(X, y, epochs=2, **settings)
    trainer.save(tmp_path / "model.npz")
    trainer.fit(X, y, epochs=2)
    loaded = Trainer.load(tmp_path / "model.npz")
    assert not loaded.network.feature_major  # files hold W[1] row-major
    loaded.fit(X, y, epochs=2)
    np.testing.assert_array_equal(flat(loaded.network), flat(trainer.network))

    # Early stopping keeps the best weights (in the file, row-major) across the resume.
    stopping = dict(validation_split=0.2, patience=5)
    whole = trained(X, y, epochs=4, fit_kwargs=stopping, **settings)
    resumed = trained(X, y, epochs=2,
                      fit_kwargs=dict(checkpoint=tmp_path / "ckpt.npz", **stopping), **settings)
    again = Trainer([24, 16, 3], dtype=np.float64, seed=99, batch_size=8, threads=1,
                    **settings)
    again.fit(X, y, epochs=4, resume=tmp_path / "ckpt.npz", **stopping)
    np.testing.assert_array_equal(flat(again.network), flat(whole.network))
    assert resumed.history["loss"] == whole.history["loss"][:2]


def test_validation_data_and_split_take_sparse_rows(rng):
    X, dense, y = sparse_data(rng)
    runs = []
    for data in (X, dense):
        trainer = trained(data, y, fit_kwargs=dict(validation_split=0.25))
        trainer.fit(data, y, epochs=1, validation_data=(data[:10], y[:10]))
        runs.append(trainer.history)
    for key in ("loss", "val_loss", "val_accuracy"):
        np.testing.assert_allclose(runs[0][key], runs[1][key], rtol=1e-12)


def test_many_features_few_nonzeros_trains_without_densifying():
    """A problem whose dense X would not fit in this test's budget (2 GB as float32)."""
    rng = np.random.default_rng(0)
    n, n_features = 5000, 100_000
    indices = rng.integers(0, n_features, (n, 10)).astype(np.int32)
    y = indices[:, 0] % 2  # the class is told by the first feature
    X = sp.csr_matrix((np.ones(n * 10, np.float32), indices.ravel(),
                       np.arange(0, n * 10 + 1, 10)), shape=(n, n_features))
    trainer = Trainer([n_features, 8, 2], seed=0, batch_size=64, learning_rate=0.5)
    trainer.fit(X, y, epochs=2)
    assert trainer.network.feature_major
    assert trainer.evaluate(X, y)["accuracy"] > 0.6


def test_initialisation_drawn_in_chunks_is_the_same(monkeypatch):
    """A wide first layer is drawn a few rows at a time (no float64 copy of the whole
    W[1]): the same weights as one draw."""
    import fastbp.network

    whole = Network([300, 40, 3], "relu", seed=4), Network([300, 40, 3], "tanh", seed=4)
    monkeypatch.setattr(fastbp.network, "INIT_CHUNK", 700)  # two rows at a time
    chunked = Network([300, 40, 3], "relu", seed=4), Network([300, 40, 3], "tanh", seed=4)
    for a, b in zip(whole, chunked):
        np.testing.assert_array_equal(a.params, b.params)
