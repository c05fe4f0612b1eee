"""Numerical stability: pre-activations of +-1000 and +-1e4 give finite activations,
finite costs and correct, finite gradients.

The reference is tests/naive.py, written from z in float64 with the stable forms of each
function, with the costs clipping probabilities to [EPSILON, 1 - EPSILON] before the
logarithm as the kernels document. The networks' weights are set directly, to values
exact in float32, so that both precisions see the same pre-activations.
"""

import naive
import numpy as np
import pytest
from conftest import HIDDEN_ACTIVATIONS, OUTPUT_COST_PAIRS

from fastbp import Network, Trainer
from fastbp.kernels.activations import ACTIVATIONS, SOFTMAX, activate, multiply_by_derivative
from fastbp.kernels.costs import COSTS, EPSILON, cost, output_delta

SCALES = [1e3, 1e4]
DTYPES = [np.float64, np.float32]
# Relative to the largest entry of the reference; float32 as in test_kernels.
TOLERANCE = {np.float64: 1e-10, np.float32: 1e-4}


def reference_gradients(net, cost_name, X, Y):
    weights = [np.array(W, np.float64) for W in net.weights]
    biases = [np.array(b, np.float64) for b in net.biases]
    X = np.asarray(X, np.float64)
    zs, As = naive.forward(weights, biases, net.activations, X)
    grad_w, grad_b = naive.backprop(weights, biases, net.activations, cost_name, X, Y)
    return zs, As, grad_w, grad_b


def assert_close(actual, expected, dtype, what):
    actual = np.asarray(actual, dtype=np.float64)
    assert np.isfinite(actual).all(), f"{what}: not finite: {actual}"
    scale = max(np.abs(expected).max(), 1e-3)
    error = np.abs(actual - expected).max() / scale
    assert error <= TOLERANCE[dtype], f"{what}: relative error {error:.3g}"


# Networks whose pre-activations reach +-scale --------------------------------------------

# Four samples, values exact in float32: each network below sees some pre-activations of
# +-scale (saturated units) and some of order 1 (units whose gradients are not zero).
X = np.array([[1.0, 0.0], [-1.0, 0.5], [0.5, -1.0], [0.0, 0.25]])


def output_network(output, n_out, scale, dtype):
    """No hidden layer: output pre-activations of +-scale, +-scale/2 and O(1)."""
    net = Network([2, n_out], output_activation=output, dtype=dtype)
    W = np.array([[scale, 0.5], [-scale, 1.0], [0.25, -0.5]])[:n_out]
    net.weights = [W]
    net.biases = [np.array([0.0, 0.5, -0.25])[:n_out]]
    return net


def hidden_network(hidden, output, scale, dtype):
    """Hidden pre-activations of +-scale and O(1); outputs of whatever they give."""
    net = Network([2, 4, 3], hidden, output, dtype=dtype)
    net.weights = [np.array([[scale, 0.5], [-scale, 0.25], [0.5, -1.0], [0.25, 0.5]]),
                   np.array([[0.5, -0.25, 1.0, 0.5], [-1.0, 0.5, 0.25, -0.5],
                             [0.25, 0.25, -0.5, 1.0]])]
    net.biases = [np.array([0.0, 0.25, -0.5, 0.5]), np.array([0.5, -0.25, 0.0])]
    return net


def targets(cost_name, output, n_out):
    """Targets that disagree with the saturated outputs of the first samples, so that
    clipped logarithms and full-size errors are exercised."""
    if cost_name == "cross_entropy":
        labels = np.array([1, 0, 2, 1])
        return np.eye(n_out)[labels]
    if cost_name == "binary_cross_entropy":
        return np.array([[0.0, 1.0, 0.0], [1.0, 0.0, 1.0], [0.0, 1.0, 1.0],
                         [1.0, 0.25, 0.0]])[:, :n_out]
    return np.array([[0.5, -1.0, 2.0], [1.0, 0.0, -0.5], [-2.0, 0.25, 1.0],
                     [0.0, 0.5, 0.5]])[:, :n_out] * (0.5 if output in ("sigmoid", "softmax")
                                                       else 1.0)


def check_network(net, cost_name, dtype):
    """Forward, cost and gradients of ``net`` on X against the reference."""
    Y = targets(cost_name, net.activations[-1], net.sizes[-1])
    zs, As, ref_w, ref_b = reference_gradients(net, cost_name, X, Y)
    assert np.abs(zs[0]).max() >= 1000  # the test is about these
    a = net.forward(X.astype(dtype))
    assert_close(a, As[-1], dtype, "A[L]")
    trainer = Trainer(net, cost_name, threads=1)
    loss = trainer.evaluate(X, Y)["loss"]
    assert_close(loss, naive.cost(As[-1], Y, cost_name), dtype, "cost")
    grad_w, grad_b = trainer.gradients(X, Y)
    for l in range(net.n_layers):
        assert_close(grad_w[l], ref_w[l], dtype, f"dC/dW[{l + 1}]")
        assert_close(grad_b[l], ref_b[l], dtype, f"dC/db[{l + 1}]")
    return grad_w, grad_b


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("scale", SCALES)
@pytest.mark.parametrize("output,cost_name", OUTPUT_COST_PAIRS)
def test_saturated_outputs(dtype, scale, output, cost_name):
    net = output_network(output, 3, scale, dtype)
    grad_w, _ = check_network(net, cost_name, dtype)
    if cost_name != "quadratic":
        # a - y does not vanish where a saturates on the wrong side: learning goes on.
        assert np.abs(grad_w[0]).max() > 0.1


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("scale", SCALES)
@pytest.mark.parametrize("output,cost_name", [("sigmoid", "binary_cross_entropy"),
                                              ("sigmoid", "quadratic"),
                                              ("identity", "quadratic")])
def test_saturated_single_output(dtype, scale, output, cost_name):
    check_network(output_network(output, 1, scale, dtype), cost_name, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("scale", SCALES)
@pytest.mark.parametrize("hidden", HIDDEN_ACTIVATIONS)
@pytest.mark.parametrize("output,cost_name", [("softmax", "cross_entropy"),
                                              ("sigmoid", "binary_cross_entropy"),
                                              ("identity", "quadratic")])
def test_saturated_hidden_layer(dtype, scale, hidden, output, cost_name):
    check_network(hidden_network(hidden, output, scale, dtype), cost_name, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("output,cost_name", [("softmax", "cross_entropy"),
                                              ("sigmoid", "binary_cross_entropy")])
def test_training_from_saturation_stays_finite(dtype, output, cost_name):
    """Saturated units on the wrong side are a large but finite error, not a divergence:
    a few epochs from there keep every parameter and loss finite."""
    net = output_network(output, 3, 1e3, dtype)
    Y = targets(cost_name, output, 3)
    trainer = Trainer(net, cost_name, learning_rate=0.01, batch_size=2, seed=0)
    history = trainer.fit(X, Y, epochs=3)
    assert np.isfinite(history["loss"]).all()
    assert np.isfinite(net.params).all()


# The kernels themselves --------------------------------------------------------------

Z = np.array([-1e4, -1e3, -745.5, -100.0, -30.0, -1.0, -0.0, 0.0, 1e-8, 1.0, 30.0, 100.0,
              745.5, 1e3, 1e4])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", HIDDEN_ACTIVATIONS)
def test_activation_and_derivative_kernels(dtype, name):
    entry = ACTIVATIONS[name]
    a = Z.astype(dtype)
    activate(a, entry.code)
    assert np.isfinite(a).all(), a
    expected = naive.ACTIVATIONS[name](Z)
    # Elementwise: each value to its own precision (a few ulps of the compute type).
    eps = np.finfo(dtype).eps
    np.testing.assert_allclose(a, expected, rtol=8 * eps, atol=np.finfo(dtype).tiny)
    delta = np.ones_like(a)
    multiply_by_derivative(delta, Z.astype(dtype) if entry.needs_z else a, entry.code)
    assert np.isfinite(delta).all(), delta
    # f' from a loses relative accuracy where f saturates (1 - a cancels), but never
    # more than a few ulps of 1 in absolute terms.
    np.testing.assert_allclose(delta, naive.DERIVATIVES[name](Z),
                               rtol=1e-3 if dtype == np.float32 else 1e-6, atol=8 * eps)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("z", [[1e3, -1e3, 0.0], [1e4, 1e4, -1e4], [-1e4, -1e4, -1e4],
                               [1e3, 999.0, -1e3], [-745.0, 0.0, 745.0]])
def test_softmax_kernel(dtype, z):
    a = np.array(z, dtype=dtype)
    activate(a, SOFTMAX)
    assert np.isfinite(a).all(), a
    np.testing.assert_allclose(a, naive.softmax(np.array(z)), rtol=8 * np.finfo(dtype).eps,
                               atol=np.finfo(dtype).tiny)
    assert abs(float(a.sum()) - 1) <= 4 * np.finfo(dtype).eps


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("cost_name,activation", [("cross_entropy", "softmax"),
                                                  ("binary_cross_entropy", "sigmoid"),
                                                  ("quadratic", "sigmoid"),
                                                  ("quadratic", "softmax"),
                                                  ("quadratic", "identity")])
def test_cost_kernels_at_saturated_outputs(dtype, cost_name, activation):
    """Outputs of exactly 0 and 1 (what saturated units give) against every target."""
    limit = -np.log(EPSILON)  # the largest cost of one clipped logarithm
    for a_values in ([1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]):
        for y_values in ([1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.5, 0.5, 0.0]):
            a = np.array(a_values, dtype=dtype)
            y = np.array(y_values, dtype=dtype)
            c = cost(a, y, COSTS[cost_name].code)
            assert np.isfinite(c)
            expected = naive.cost(a[None].astype(np.float64), y[None], cost_name)
            assert c == pytest.approx(expected, rel=1e-12, abs=1e-12)
            assert c <= 3 * limit
            delta = np.empty_like(a)
            output_delta(a, y, ACTIVATIONS[activation].code, COSTS[cost_name].code, delta, a)
            assert np.isfinite(delta).all()


def test_nan_output_is_not_hidden_by_the_clipping():
    """Clipping must not turn a NaN output (a diverged network) into a finite cost."""
    for entry in COSTS.values():
        a = np.array([np.nan, 0.5, 0.5])
        assert np.isnan(cost(a, np.array([1.0, 0.0, 0.0]), entry.code))
