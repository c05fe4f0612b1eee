"""Central finite differences of the kernels' own cost agree with their gradients (float64)."""

import numpy as np
import pytest
from conftest import HIDDEN_ACTIVATIONS, OUTPUT_COST_PAIRS, make_targets

from fastbp import Network, Trainer

H = 1e-6


@pytest.mark.parametrize("hidden", HIDDEN_ACTIVATIONS)
@pytest.mark.parametrize("output,cost", OUTPUT_COST_PAIRS)
def test_gradients_agree_with_central_differences(rng, hidden, output, cost):
    net = Network([4, 5, 3], hidden, output, dtype=np.float64, seed=11)
    for b in net.biases:
        b[...] = 0.1 * rng.standard_normal(b.shape)
    X = rng.standard_normal((6, 4))
    Y = make_targets(rng, cost, output, 6, 3)
    trainer = Trainer(net, cost, threads=1)
    grad_w, grad_b = trainer.gradients(X, Y)
    analytic = np.concatenate([g.ravel() for pair in zip(grad_w, grad_b) for g in pair])
    numeric = []
    for pair in zip(net.weights, net.biases):
        for values in pair:  # every parameter: a view into the network's parameters
            for i in np.ndindex(values.shape):
                saved = values[i]
                values[i] = saved + H
                c_plus = trainer.evaluate(X, Y)["loss"]
                values[i] = saved - H
                c_minus = trainer.evaluate(X, Y)["loss"]
                values[i] = saved
                numeric.append((c_plus - c_minus) / (2 * H))
    numeric = np.array(numeric)
    # Central differences are accurate to O(H^2) ~ 1e-12 plus rounding ~ 1e-16 / H.
    np.testing.assert_allclose(analytic, numeric, rtol=1e-6, atol=1e-8)
    assert np.abs(analytic).max() > 1e-3  # the check compared something
