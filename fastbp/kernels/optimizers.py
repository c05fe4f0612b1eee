"""Optimiser updates, applied to the rows of one layer a thread owns, right after BP4.

Plain SGD without weight decay is fused into BP4 itself (``backprop.gradient_rows``);
everything else reads the batch sums G = m dC/dW that BP4 leaves in ``grad``:

    g = G / m + lambda W                     (L2 weight decay on W, not on b)
    momentum    v <- mu v - eta g;  W <- W + v
    Nesterov    v <- mu v - eta g;  W <- W + mu v - eta g
    Adam        s1 <- b1 s1 + (1 - b1) g;  s2 <- b2 s2 + (1 - b2) g^2
                W <- W - eta (s1 / (1 - b1^t)) / (sqrt(s2 / (1 - b2^t)) + eps)

``state1`` holds v (or Adam's first moment), ``state2`` Adam's second moment, both
in the layout of ``params``.
"""

import math

from .._config import jit

SGD = 0
MOMENTUM = 1
NESTEROV = 2
ADAM = 3

# Hyper-parameters travel as one float64 array: index -> meaning.
ETA, WEIGHT_DECAY, MU, BETA1, BETA2, EPSILON = range(6)
N_HYPER = 6


@jit
def _update(code, w, g, s1, s2, hyper, c1, c2):
    """One parameter: its new value, and the new state in (s1, s2)."""
    eta = hyper[ETA]
    if code == ADAM:
        b1, b2 = hyper[BETA1], hyper[BETA2]
        s1 = b1 * s1 + (1.0 - b1) * g
        s2 = b2 * s2 + (1.0 - b2) * g * g
        w = w - eta * (s1 * c1) / (math.sqrt(s2 * c2) + hyper[EPSILON])
    elif code == SGD:
        w = w - eta * g
    else:
        s1 = hyper[MU] * s1 - eta * g
        w = w + (hyper[MU] * s1 - eta * g if code == NESTEROV else s1)
    return w, s1, s2


@jit
def update_rows(code, params, grad, state1, state2, w_off, w_ld, n_in, b_off, j0, j1, m,
                hyper, t):
    """Apply optimiser ``code`` to rows ``j0:j1`` of W (and b) of one layer.

    Parameters
    ----------
    grad : ndarray, 1-D
        Batch sums of the gradient (m dC/dW, m dC/db), in the layout of ``params``.
    m : int
        Samples in the batch.
    hyper : ndarray of float64
        ETA, WEIGHT_DECAY, MU, BETA1, BETA2, EPSILON.
    t : int
        Adam's step count, from 1.
    """
    dtype = params.dtype.type
    if code == SGD and hyper[WEIGHT_DECAY] == 0:
        # W -= (eta / m) G in the parameters' dtype: a vectorised axpy. (In one process
        # this case is fused into BP4 and never comes here.)
        step = dtype(hyper[ETA] / m)
        for j in range(j0, j1):
            row = w_off + j * w_ld
            for i in range(row, row + n_in):
                params[i] -= step * grad[i]
            params[b_off + j] -= step * grad[b_off + j]
        return
    # Otherwise arithmetic in float64, stored in the parameters' dtype.
    inv_m = 1.0 / m
    decay = hyper[WEIGHT_DECAY]
    c1 = c2 = 1.0
    if code == ADAM:
        c1 = 1.0 / (1.0 - hyper[BETA1] ** t)
        c2 = 1.0 / (1.0 - hyper[BETA2] ** t)
    for j in range(j0, j1):
        row = w_off + j * w_ld
        for i in range(row, row + n_in):
            g = grad[i] * inv_m + decay * params[i]
            w, s1, s2 = _update(code, float(params[i]), g, float(state1[i]), float(state2[i]),
                                hyper, c1, c2)
            params[i], state1[i], state2[i] = dtype(w), dtype(s1), dtype(s2)
        i = b_off + j
        w, s1, s2 = _update(code, float(params[i]), grad[i] * inv_m, float(state1[i]),
                            float(state2[i]), hyper, c1, c2)
        params[i], state1[i], state2[i] = dtype(w), dtype(s1), dtype(s2)
