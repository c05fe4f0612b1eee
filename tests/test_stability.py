"""Numerical stability: pre-activations of +-1000 and +-1e4 give finite activations,
finite costs and correct, finite gradients.

The reference here is written from z in float64 with the stable forms of each function
(two-sided sigmoid, shifted softmax, ``logaddexp`` for softplus, ``expm1`` for ELU,
derivatives that never subtract nearly equal numbers), and the costs clip probabilities
to [EPSILON, 1 - EPSILON] before the logarithm as the kernels document. The networks'
weights are set directly, to values exact in float32, so that both precisions see the
same pre-activations.
"""

import numpy as np
import pytest
from conftest import HIDDEN_ACTIVATIONS, OUTPUT_COST_PAIRS

from fastbp import Network, Trainer
from fastbp.kernels.activations import ACTIVATION_CODES, activate, multiply_by_derivative
from fastbp.kernels.costs import COST_CODES, EPSILON, cost, output_delta

SCALES = [1e3, 1e4]
DTYPES = [np.float64, np.float32]
# Relative to the largest entry of the reference; float32 as in test_kernels.
TOLERANCE = {np.float64: 1e-10, np.float32: 1e-4}


# The careful float64 reference ----------------------------------------------------------

def sigmoid(z):
    e = np.exp(-np.abs(z))  # never overflows
    return np.where(z >= 0, 1 / (1 + e), e / (1 + e))


def softmax(z):
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


ACTIVATIONS = {
    "identity": lambda z: z,
    "sigmoid": sigmoid,
    "tanh": np.tanh,
    "relu": lambda z: np.maximum(z, 0),
    "leaky_relu": lambda z: np.where(z > 0, z, 0.01 * z),
    "elu": lambda z: np.where(z > 0, z, np.expm1(np.minimum(z, 0))),
    "softplus": lambda z: np.logaddexp(0, z),
    "softmax": softmax,
}


def _sech2(z):
    e = np.exp(-2 * np.abs(z))
    return 4 * e / (1 + e) ** 2


DERIVATIVES = {  # f'(z), each without cancellation or overflow
    "identity": np.ones_like,
    "sigmoid": lambda z: sigmoid(z) * sigmoid(-z),
    "tanh": _sech2,
    "relu": lambda z: (z > 0).astype(np.float64),
    "leaky_relu": lambda z: np.where(z > 0, 1.0, 0.01),
    "elu": lambda z: np.where(z > 0, 1.0, np.exp(np.minimum(z, 0))),
    "softplus": sigmoid,
}


def reference_cost(a, y, name):
    """Mean over samples, with probabilities clipped as the kernels document."""
    if name == "quadratic":
        c = 0.5 * ((a - y) ** 2).sum(axis=1)
    elif name == "binary_cross_entropy":
        p = np.clip(a, EPSILON, 1 - EPSILON)
        c = -(y * np.log(p) + (1 - y) * np.log(1 - p)).sum(axis=1)
    else:
        p = np.maximum(a, EPSILON)
        c = -np.where(y != 0, y * np.log(p), 0).sum(axis=1)
    return c.mean()


def reference_output_delta(z, a, y, activation, cost_name):
    """BP1 per sample from z: the cross-entropies' cancelled form, else the chain rule."""
    if cost_name != "quadratic":
        return a - y
    if activation == "softmax":
        g = a - y
        return a * (g - (g * a).sum(axis=1, keepdims=True))
    return (a - y) * DERIVATIVES[activation](z)


def reference_gradients(net, cost_name, X, Y):
    weights = [np.array(W, np.float64) for W in net.weights]
    biases = [np.array(b, np.float64) for b in net.biases]
    zs, As = [], [np.asarray(X, np.float64)]
    for W, b, f in zip(weights, biases, net.activations):
        zs.append(As[-1] @ W.T + b)
        As.append(ACTIVATIONS[f](zs[-1]))
    m = X.shape[0]
    delta = reference_output_delta(zs[-1], As[-1], Y, net.activations[-1], cost_name)
    grad_w, grad_b = [None] * len(weights), [None] * len(weights)
    for l in range(len(weights) - 1, -1, -1):
        grad_w[l] = delta.T @ As[l] / m
        grad_b[l] = delta.sum(axis=0) / m
        if l > 0:
            delta = (delta @ weights[l]) * DERIVATIVES[net.activations[l - 1]](zs[l - 1])
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
    assert_close(loss, reference_cost(As[-1], Y, cost_name), dtype, "cost")
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
@pytest.mark.parametrize("name", sorted(set(ACTIVATION_CODES) - {"softmax"}))
def test_activation_and_derivative_kernels(dtype, name):
    a = Z.astype(dtype)
    activate(a, ACTIVATION_CODES[name])
    assert np.isfinite(a).all(), a
    expected = ACTIVATIONS[name](Z)
    # Elementwise: each value to its own precision (a few ulps of the compute type).
    eps = np.finfo(dtype).eps
    np.testing.assert_allclose(a, expected, rtol=8 * eps, atol=np.finfo(dtype).tiny)
    delta = np.ones_like(a)
    multiply_by_derivative(delta, a, ACTIVATION_CODES[name])
    assert np.isfinite(delta).all(), delta
    # f' from a loses relative accuracy where f saturates (1 - a cancels), but never
    # more than a few ulps of 1 in absolute terms.
    np.testing.assert_allclose(delta, DERIVATIVES[name](Z), rtol=1e-3 if dtype == np.float32
                               else 1e-6, atol=8 * eps)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("z", [[1e3, -1e3, 0.0], [1e4, 1e4, -1e4], [-1e4, -1e4, -1e4],
                               [1e3, 999.0, -1e3], [-745.0, 0.0, 745.0]])
def test_softmax_kernel(dtype, z):
    a = np.array(z, dtype=dtype)
    activate(a, ACTIVATION_CODES["softmax"])
    assert np.isfinite(a).all(), a
    np.testing.assert_allclose(a, softmax(np.array(z)), rtol=8 * np.finfo(dtype).eps,
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
            c = cost(a, y, COST_CODES[cost_name])
            assert np.isfinite(c)
            expected = reference_cost(a[None].astype(np.float64), y[None], cost_name)
            assert c == pytest.approx(expected, rel=1e-12, abs=1e-12)
            assert c <= 3 * limit
            delta = np.empty_like(a)
            output_delta(a, y, ACTIVATION_CODES[activation], COST_CODES[cost_name], delta)
            assert np.isfinite(delta).all()


def test_nan_output_is_not_hidden_by_the_clipping():
    """Clipping must not turn a NaN output (a diverged network) into a finite cost."""
    for cost_name in COST_CODES:
        a = np.array([np.nan, 0.5, 0.5])
        assert np.isnan(cost(a, np.array([1.0, 0.0, 0.0]), COST_CODES[cost_name]))
