"""Kernels against the plain-NumPy reference (tests/naive.py), path by path.

Tolerances: float64 results must agree to 1e-10 (relative to the largest entry).
float32 results are compared with the float64 reference on the same float32 inputs:
each value is a sum of at most a few hundred products of O(1) numbers, rounded at
every step, so its error is bounded by about n * 2^-24 ~ 1e-5 of the sum of the
magnitudes; we allow 1e-4 of the largest entry, which also absorbs float32 exp/tanh.
"""

import functools
import operator

import naive
import numpy as np
import pytest
from conftest import (
    HIDDEN_ACTIVATIONS,
    OUTPUT_COST_PAIRS,
    Z_ACTIVATIONS,
    make_targets,
    shared_by_neurons,
)

from fastbp import Network, Trainer
from fastbp._threads import max_threads
from fastbp.kernels.activations import ACTIVATIONS
from fastbp.kernels.costs import COSTS
from fastbp.kernels.layout import A_OFF, ACT, Z_OFF, n_activations
from fastbp.kernels.structures import workspace

TOLERANCE = {np.float64: 1e-10, np.float32: 1e-4}


def assert_close(actual, expected, dtype, what=""):
    actual = np.asarray(actual, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    scale = max(np.abs(expected).max(), 1e-3)
    error = np.abs(actual - expected).max() / scale
    assert error <= TOLERANCE[dtype], f"{what}: relative error {error:.3g}"


def params64(net):
    return ([np.array(W, np.float64) for W in net.weights],  # copies, not views
            [np.array(b, np.float64) for b in net.biases])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("hidden", HIDDEN_ACTIVATIONS)
@pytest.mark.parametrize("output", list(ACTIVATIONS))
def test_forward_matches_reference(rng, dtype, hidden, output):
    net = Network([6, 9, 5, 4], hidden, output, dtype=dtype, seed=1)
    for b in net.biases:  # non-zero biases, so that they are tested too
        b[...] = rng.standard_normal(b.shape)
    X = rng.standard_normal((13, 6)).astype(dtype)
    weights, biases = params64(net)
    _, As = naive.forward(weights, biases, net.activations, X.astype(np.float64))
    out = net.forward(X)
    assert out.dtype == dtype
    assert_close(out, As[-1], dtype, "A[L]")


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("hidden", HIDDEN_ACTIVATIONS)
@pytest.mark.parametrize("output,cost", OUTPUT_COST_PAIRS)
def test_gradients_match_reference(rng, dtype, hidden, output, cost):
    net = Network([7, 8, 6, 5], hidden, output, dtype=dtype, seed=2)
    for b in net.biases:
        b[...] = 0.1 * rng.standard_normal(b.shape)
    X = rng.standard_normal((11, 7)).astype(dtype)
    Y = make_targets(rng, cost, output, 11, 5).astype(dtype)
    grad_w, grad_b = Trainer(net, cost, threads=2).gradients(X, Y)
    weights, biases = params64(net)
    ref_w, ref_b = naive.backprop(weights, biases, net.activations, cost,
                                  X.astype(np.float64), Y.astype(np.float64))
    for l in range(net.n_layers):
        assert grad_w[l].shape == net.weights[l].shape
        assert_close(grad_w[l], ref_w[l], dtype, f"dC/dW[{l + 1}]")
        assert_close(grad_b[l], ref_b[l], dtype, f"dC/db[{l + 1}]")


def check_epochs(rng, net, cost, by_neuron, eta):
    """Two epochs of ``net`` from the same seed against the reference: shuffling, batches
    (the last one short), updates; the batch shared by samples or (``by_neuron``, as for
    large layers) by neurons."""
    dtype = net.dtype.type
    n, batch_size, seed = 23, 5, 7
    X = rng.standard_normal((n, 5)).astype(dtype)
    Y = make_targets(rng, cost, net.activations[-1], n, 3).astype(dtype)
    weights, biases = params64(net)
    # shared by neurons only on more than one thread
    threads = min(2, max_threads()) if by_neuron else None
    trainer = Trainer(net, cost, learning_rate=eta, batch_size=batch_size, seed=seed,
                      threads=threads)
    with shared_by_neurons(by_neuron):
        history = trainer.fit(X, Y, epochs=2)
    shuffles = np.random.default_rng(seed)
    losses = []
    for _ in range(2):
        weights, biases, loss = naive.train_epoch(
            weights, biases, net.activations, cost, X.astype(np.float64),
            Y.astype(np.float64), shuffles.permutation(n), batch_size, eta)
        losses.append(loss)
    for l in range(net.n_layers):
        assert_close(net.weights[l], weights[l], dtype, f"W[{l + 1}]")
        assert_close(net.biases[l], biases[l], dtype, f"b[{l + 1}]")
    assert_close(history["loss"], losses, dtype, "loss")


@pytest.mark.parametrize("by_neuron", [False, True])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("output,cost", OUTPUT_COST_PAIRS)
def test_epoch_matches_reference(rng, dtype, output, cost, by_neuron):
    net = Network([5, 40, 7, 3], ["tanh", "relu"], output, dtype=dtype, seed=3)
    check_epochs(rng, net, cost, by_neuron, eta=0.3)


@pytest.mark.parametrize("by_neuron", [False, True])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("hidden", Z_ACTIVATIONS)
def test_epoch_with_activations_that_keep_z(rng, dtype, hidden, by_neuron):
    """Layers whose f' is computed from the kept Z, hidden and output (BP1 of the
    quadratic cost)."""
    net = Network([5, 40, 7, 3], [hidden, "tanh"], hidden, dtype=dtype, seed=3)
    check_epochs(rng, net, "quadratic", by_neuron, eta=0.1)


def test_z_is_kept_only_where_the_derivative_needs_it():
    sizes = [6, 16, 16, 16, 4]
    plain = Network(sizes, ["relu", "tanh", "elu"], "softmax")
    assert (plain._table[:, Z_OFF] == -1).all()
    mixed = Network(sizes, ["gelu", "tanh", "silu"], "identity")
    kept = mixed._table[:, Z_OFF]
    assert (kept[[1, 3]] == -1).all() and (kept[[0, 2]] >= 0).all()
    # two more blocks of 16 per sample, after the activations, which stay where they were
    assert n_activations(mixed._table) == n_activations(plain._table) + 2 * 16
    assert kept[0] >= plain._table[-1, A_OFF] + 4
    same = [c for c in range(plain._table.shape[1]) if c not in (ACT, Z_OFF)]
    np.testing.assert_array_equal(mixed._table[:, same], plain._table[:, same])


@pytest.mark.parametrize("output,cost", [(c.output, name) for name, c in COSTS.items()
                                         if c.needs_output])
def test_cancelled_output_delta_is_the_chain_rule(rng, output, cost):
    """The reference's BP1 for the cross-entropies, a - y, is dC/da f'(z) written out."""
    z = rng.standard_normal((6, 4))
    a = naive.ACTIVATIONS[output](z)
    y = make_targets(rng, cost, output, 6, 4)
    # dC/da of C = -sum y log a - (1 - y) log(1 - a), and of C = -sum y log a
    grad_a = (a - y) / (a * (1 - a)) if cost == "binary_cross_entropy" else -y / a
    np.testing.assert_allclose(naive.chain_rule(z, a, grad_a, output),
                               naive.output_delta(z, a, y, output, cost), rtol=1e-12,
                               atol=1e-12)


def test_classification_labels_are_one_hot(rng):
    net = Network([4, 6, 3], "sigmoid", "softmax", dtype=np.float64, seed=0)
    X = rng.standard_normal((9, 4))
    labels = rng.integers(0, 3, 9)
    g_labels = Trainer(net, "cross_entropy").gradients(X, labels)
    g_onehot = Trainer(net, "cross_entropy").gradients(X, naive.one_hot(labels, 3))
    for a, b in zip(g_labels[0] + g_labels[1], g_onehot[0] + g_onehot[1]):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_padded_weight_rows(rng, dtype):
    """Layers whose input size is a multiple of 64 store W with padded rows."""
    net = Network([64, 128, 64, 10], "relu", "softmax", dtype=dtype, seed=4)
    assert net.weights[0].shape == (128, 64) and not net.weights[0].flags.c_contiguous
    X = rng.standard_normal((37, 64)).astype(dtype)
    y = rng.integers(0, 10, 37)
    weights, biases = params64(net)
    grad_w, grad_b = Trainer(net, "cross_entropy").gradients(X, y)
    ref_w, ref_b = naive.backprop(weights, biases, net.activations, "cross_entropy",
                                  X.astype(np.float64), naive.one_hot(y, 10))
    for l in range(net.n_layers):
        assert_close(grad_w[l], ref_w[l], dtype, f"dC/dW[{l + 1}]")
        assert_close(grad_b[l], ref_b[l], dtype, f"dC/db[{l + 1}]")
    trainer = Trainer(net, "cross_entropy", learning_rate=0.1, batch_size=16, seed=1)
    trainer.fit(X, y, epochs=2)
    shuffles = np.random.default_rng(1)
    for _ in range(2):
        weights, biases, _ = naive.train_epoch(weights, biases, net.activations,
                                               "cross_entropy", X.astype(np.float64),
                                               naive.one_hot(y, 10), shuffles.permutation(37),
                                               16, 0.1)
    for l in range(net.n_layers):
        assert_close(net.weights[l], weights[l], dtype, f"W[{l + 1}]")
    # the padding stays zero
    padding = net.params[:128 * 80].reshape(128, 80)[:, 64:]
    assert not padding.any()


def test_per_layer_activations_and_deep_network(rng):
    acts = ["relu", "sigmoid", "tanh", "identity"]
    net = Network([3, 17, 1, 9, 4, 2], acts, "softmax", dtype=np.float64, seed=5)
    X = rng.standard_normal((6, 3))
    y = rng.integers(0, 2, 6)
    grad_w, grad_b = Trainer(net, "cross_entropy").gradients(X, y)
    ref_w, ref_b = naive.backprop(*params64(net), net.activations, "cross_entropy", X,
                                  naive.one_hot(y, 2))
    for l in range(net.n_layers):
        assert_close(grad_w[l], ref_w[l], np.float64, f"dC/dW[{l + 1}]")
        assert_close(grad_b[l], ref_b[l], np.float64, f"dC/db[{l + 1}]")


@pytest.mark.parametrize("z", [-1000.0, -50.0, 0.0, 50.0, 1000.0])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_extreme_pre_activations_stay_finite(z, dtype):
    """sigmoid and softmax of +-1000 give finite outputs, losses and gradients."""
    for output, cost in [("sigmoid", "binary_cross_entropy"), ("softmax", "cross_entropy")]:
        net = Network([1, 2], output_activation=output, dtype=dtype, seed=0)
        net.weights[0][...] = [[1.0], [-1.0]]
        X = np.array([[z]], dtype=dtype)
        trainer = Trainer(net, cost)
        assert np.isfinite(net.forward(X)).all()
        assert np.isfinite(trainer.evaluate(X, [1])["loss"])
        for g in functools.reduce(operator.iadd, trainer.gradients(X, [1]), []):
            assert np.isfinite(g).all()


def test_parameters_and_workspaces_start_on_64_byte_boundaries():
    net = Network([7, 30, 13, 3], dtype=np.float32, seed=0)
    for array in list(net.weights) + list(net.biases):
        assert array.ctypes.data % 64 == 0
    for mixed in (False, True):
        ws = workspace(net.table, 5, net.dtype, 2, mixed=mixed)
        for buffer in [*ws, *ws.sums]:  # each thread's block of sums too
            if getattr(buffer, "dtype", None) == net.dtype and buffer.size:
                assert buffer.ctypes.data % 64 == 0
        assert ws.sums.shape == ((2, 48 * 30) if mixed else (2, 0))  # 48 rows of W[1]
    assert net.n_params == 7 * 30 + 30 + 30 * 13 + 13 + 13 * 3 + 3
    assert net.copy().params.ctypes.data % 64 == 0


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_max_abs_range_is_exact_on_every_kind_of_number(rng, dtype):
    """The divergence guard's maxima (``checks.max_abs_range``, a maximum of the
    integers of |x|'s bits, turned back into the float): the exact max(current, |x|),
    NaN counted as infinity, over normals, subnormals, signed zeros and raw bit patterns."""
    from fastbp.kernels.checks import max_abs_range

    words = np.uint32 if dtype == np.float32 else np.uint64
    tiny = np.finfo(dtype).smallest_subnormal
    kinds = [lambda n: rng.standard_normal(n).astype(dtype),
             lambda n: (rng.integers(-9, 9, n) * tiny).astype(dtype),
             lambda n: np.full(n, -0.0, dtype),
             lambda n: rng.integers(0, np.iinfo(words).max, n, dtype=words).view(dtype)]
    for trial in range(200):
        n = int(rng.integers(1, 300))
        x = kinds[trial % len(kinds)](n)
        off = int(rng.integers(0, n))
        count = int(rng.integers(0, n - off + 1))
        current = float(rng.choice([0.0, 0.5, 1e-300]))
        with np.errstate(invalid="ignore"):  # signalling NaNs among the raw bit patterns
            part = x[off:off + count].astype(np.float64)
        expected = np.inf if np.isnan(part).any() else max([current, *np.abs(part)])
        assert max_abs_range(x, off, count, current) == expected


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("j0,j1", [(0, 7), (3, 300), (0, 600), (256, 613)])
@pytest.mark.parametrize("step", [0.0, 0.25])
def test_bias_sums_run_over_the_samples_in_order(rng, dtype, j0, j1, step):
    """BP3 (``backprop.bias_rows``), a block of BIAS_BLOCK neurons at a time: each sum is
    the deltas of the samples added in sample order (the bits of that loop), written to
    b[j0:j1] or, with a step, applied as ``-= step * sum``; nothing else written."""
    from fastbp.kernels.backprop import BIAS_BLOCK, bias_rows
    from fastbp.kernels.structures import Rows

    m, n, d_off, b_off = 37, 613, 5, 11
    D = rng.standard_normal(d_off + m * n).astype(dtype)
    out = rng.standard_normal(b_off + n + 9).astype(dtype)
    before = out.copy()
    sums = np.full(BIAS_BLOCK, np.nan, dtype)  # the scratch: read only after written
    bias_rows(Rows(D, d_off, n), m, out, b_off, j0, j1, step, sums)
    want = np.zeros(j1 - j0, dtype)
    for s in range(m):
        want += D[d_off + s * n + j0:d_off + s * n + j1]
    expected = before.copy()
    if step:
        expected[b_off + j0:b_off + j1] -= dtype(step) * want
        np.testing.assert_allclose(out, expected, rtol=1e-6 if dtype == np.float32 else 1e-14)
    else:
        expected[b_off + j0:b_off + j1] = want
        np.testing.assert_array_equal(out, expected)
    untouched = np.ones(out.shape, bool)
    untouched[b_off + j0:b_off + j1] = False
    np.testing.assert_array_equal(out[untouched], before[untouched])
