"""Optimiser updates, applied to the rows of one layer a thread owns, right after BP4, and
the registry of optimisers by name.

Plain SGD without weight decay is fused into BP4 itself (``backprop.gradient_rows``);
everything else reads the batch sums G = m dC/dW that BP4 leaves in ``grad``:

    g = G / m + lambda W                     (L2 weight decay on W, not on b)
    momentum    v <- mu v - eta g;  W <- W + v
    Nesterov    v <- mu v - eta g;  W <- W + mu v - eta g
    Adam        s1 <- b1 s1 + (1 - b1) g;  s2 <- b2 s2 + (1 - b2) g^2
                W <- W - eta (s1 / (1 - b1^t)) / (sqrt(s2 / (1 - b2^t)) + eps)
    AdamW       Adam's moments of g = G / m (no lambda W in g), and the decay decoupled:
                W <- (1 - eta lambda) W - eta (s1 / (1 - b1^t)) / (sqrt(s2 / (1 - b2^t)) + eps)
    RMSprop     s2 <- rho s2 + (1 - rho) g^2;  r = g / (sqrt(s2) + eps)
                with mu > 0: s1 <- mu s1 + r;  r = s1
                W <- W - eta r

``state1`` holds v (or Adam's first moment, RMSprop's momentum buffer), ``state2`` the
mean of squares of Adam, AdamW and RMSprop, all in the layout of ``params``. AdamW and
RMSprop follow PyTorch's ``AdamW`` and ``RMSprop`` (whose ``alpha`` is rho here, and whose
momentum keeps eta outside the buffer), with the decay on the weights only.
"""

import math
from collections import namedtuple
from typing import NamedTuple

import numpy as np

from .._config import jit
from .linked import compiled_alone

SGD = 0
MOMENTUM = 1
NESTEROV = 2
ADAM = 3
ADAMW = 4
RMSPROP = 5

# Hyper-parameters travel as one float64 array: index -> meaning.
ETA, WEIGHT_DECAY, MU, BETA1, BETA2, EPSILON, RHO = range(7)
N_HYPER = 7


class UpdateRule(NamedTuple):
    """An entry of ``OPTIMIZERS``."""
    code: int             # the kernels' code ("sgd": MOMENTUM or NESTEROV with momentum)
    reads: tuple          # the settings it reads besides learning_rate and weight_decay
    state: tuple          # what state1 (and state2) hold
    squares: bool = False  # state2 holds a mean of squared gradients, >= 0
    decoupled: bool = False  # weight_decay shrinks W directly rather than adding to g


# The optimisers by name: what the trainer, the CLI, the estimators and the tests read.
OPTIMIZERS = {
    "sgd": UpdateRule(SGD, ("momentum", "nesterov"), ("velocity",)),
    "adam": UpdateRule(ADAM, ("beta1", "beta2", "epsilon"), ("first moments", "second moments"),
                       squares=True),
    "adamw": UpdateRule(ADAMW, ("beta1", "beta2", "epsilon"),
                        ("first moments", "second moments"), squares=True, decoupled=True),
    "rmsprop": UpdateRule(RMSPROP, ("rho", "epsilon", "momentum"),
                          ("momentum buffer", "mean squares"), squares=True),
}


@jit(inline=True)
def keeps_squares(code):
    """Whether ``state2`` holds a mean of squared gradients (``squares`` in the registry)."""
    return code in (ADAM, ADAMW, RMSPROP)


@jit(inline=True)
def _moments(g, s1, s2, k):
    """Adam's moments after gradient ``g``."""
    return k.beta1 * s1 + (1.0 - k.beta1) * g, k.beta2 * s2 + (1.0 - k.beta2) * g * g


# The hyper-parameters an update reads, as scalars: read once per call, not once per
# parameter (stores into the parameters could alias ``hyper`` as far as LLVM knows).
Constants = namedtuple("Constants", "eta beta1 beta2 epsilon rho mu")


@jit(inline=True)
def _constants(hyper):
    return Constants(hyper[ETA], hyper[BETA1], hyper[BETA2], hyper[EPSILON], hyper[RHO],
                     hyper[MU])


@jit
def _update(code, w, g, s1, s2, k, c1, c2, shrink):
    """One parameter: its new value, and the new state in (s1, s2); ``k`` the
    ``Constants``. ``shrink`` is AdamW's decoupled decay factor 1 - eta lambda (1 for
    the biases)."""
    eta = k.eta
    if code == ADAM:
        s1, s2 = _moments(g, s1, s2, k)
        w = w - eta * (s1 * c1) / (math.sqrt(s2 * c2) + k.epsilon)
    elif code == SGD:
        w = w - eta * g
    elif code == ADAMW:
        s1, s2 = _moments(g, s1, s2, k)
        w = w * shrink - eta * (s1 * c1) / (math.sqrt(s2 * c2) + k.epsilon)
    elif code == RMSPROP:
        s2 = k.rho * s2 + (1.0 - k.rho) * g * g
        r = g / (math.sqrt(s2) + k.epsilon)
        if k.mu > 0:
            s1 = k.mu * s1 + r
            r = s1
        w = w - eta * r
    else:
        s1 = k.mu * s1 - eta * g
        w = w + (k.mu * s1 - eta * g if code == NESTEROV else s1)
    return w, s1, s2


def _update_rows(opt, W, G, n_in, b_off, j0, j1, m, t):
    """Apply the optimiser ``opt`` to rows ``j0:j1`` of W (and b) of one layer.

    Parameters
    ----------
    opt : structures.Optim
        The optimiser's code, ``hyper`` (float64: ETA, WEIGHT_DECAY, MU, BETA1, BETA2,
        EPSILON, RHO), and ``grad``, ``state1``, ``state2`` in the layout of the
        parameters, ``grad`` holding the biases' batch sums (m dC/db).
    W : structures.Rows
        W of the layer in the parameter vector (rows ``W.ld`` apart, ``n_in`` long);
        b in the same vector from ``b_off``.
    G : structures.Rows
        The weights' batch sums (m dC/dW): row j from ``G.offset + j*G.ld`` of ``G.data``
        (``opt.grad`` in the layout of W, or a thread's block of rows).
    m : int
        Samples in the batch.
    t : int
        Adam's step count, from 1.
    """
    params, state1, state2 = W.data, opt.state1, opt.state2
    # contiguous slices, so that the loops vectorise; the biases last (j = j1)
    for j in range(j0, j1 + 1):
        if j < j1:
            first, count = W.offset + j * W.ld, n_in
            g = G.data[G.offset + j * G.ld:][:n_in]
        else:
            first, count = b_off + j0, j1 - j0
            g = opt.grad[first:first + count]
        last = first + count
        _update_slices(opt, params[first:last], g, state1[first:last], state2[first:last], m,
                       t, j < j1)


update_rows = compiled_alone("update_rows", _update_rows)


@jit
def update_entries(opt, params, first, count, stride, m, t, weights):
    """Apply the optimiser ``opt`` (see ``update_rows``) to ``count`` entries of
    ``params`` from ``first``, ``stride`` apart: weights (decayed) or, without
    ``weights``, biases. (The sparse inputs' lazy update: its rows of a feature-major
    W[1] are contiguous, of a row-major one strided.)"""
    last = first + count * stride
    if stride == 1:  # contiguous slices: the loops vectorise (update_rows' compiled code)
        _update_slices(opt, params[first:last], opt.grad[first:last], opt.state1[first:last],
                       opt.state2[first:last], m, t, weights)
    else:
        _update_slices(opt, params[first:last:stride], opt.grad[first:last:stride],
                       opt.state1[first:last:stride], opt.state2[first:last:stride], m, t,
                       weights)


@jit(inline=True)
def _update_slices(opt, params, grad, state1, state2, m, t, weights):
    """``update_entries`` on slices of the parameters, the gradient sums and the state
    (those of the state empty where plain SGD keeps none)."""
    code, hyper = opt.code, opt.hyper
    dtype = params.dtype.type
    if code == SGD and hyper[WEIGHT_DECAY] == 0:
        # W -= (eta / m) G in the parameters' dtype: an axpy. (In one process this case
        # is fused into BP4 and never comes here.)
        step = dtype(hyper[ETA] / m)
        for i in range(params.shape[0]):
            params[i] -= step * grad[i]
        return
    # Otherwise arithmetic in float64, stored in the parameters' dtype.
    inv_m = 1.0 / m
    decay = hyper[WEIGHT_DECAY]
    shrink = 1.0
    if code == ADAMW:  # decoupled: W shrinks, g holds no decay
        shrink = 1.0 - hyper[ETA] * decay if weights else 1.0
        decay = 0.0
    c1 = c2 = 1.0
    if code in (ADAM, ADAMW):
        c1 = 1.0 / (1.0 - hyper[BETA1] ** t)
        c2 = 1.0 / (1.0 - hyper[BETA2] ** t)
    k = _constants(hyper)
    # One loop per rule, each with its code a constant (see ``_apply``; int64, not a
    # literal, which Numba would compile ``_update`` for once per value); a new optimiser
    # adds its line here.
    scalars = (inv_m, decay, weights, k, c1, c2, shrink)
    if code == ADAM:
        _apply(np.int64(ADAM), params, grad, state1, state2, scalars)
    elif code == ADAMW:
        _apply(np.int64(ADAMW), params, grad, state1, state2, scalars)
    elif code == RMSPROP:
        _apply(np.int64(RMSPROP), params, grad, state1, state2, scalars)
    elif code == MOMENTUM:
        _apply(np.int64(MOMENTUM), params, grad, state1, state2, scalars)
    elif code == NESTEROV:
        _apply(np.int64(NESTEROV), params, grad, state1, state2, scalars)
    else:
        _apply(np.int64(SGD), params, grad, state1, state2, scalars)


@jit(inline=True)
def _apply(code, params, grad, state1, state2, scalars):
    """The loop of ``_update_slices`` for the rule ``code``. Inlined by Numba where
    ``code`` is a constant, so that LLVM drops the other rules' branches and vectorises
    the loop (about 7 times faster than one loop branching on a variable code); the
    state a rule does not change is neither read nor written."""
    inv_m, decay, weights, k, c1, c2, shrink = scalars
    dtype = params.dtype.type
    moves1, moves2 = code != SGD, keeps_squares(code)
    for i in range(params.shape[0]):
        g = grad[i] * inv_m
        if weights:  # L2 decay on the weights only
            g = g + decay * params[i]
        s1 = float(state1[i]) if moves1 else 0.0
        s2 = float(state2[i]) if moves2 else 0.0
        w, s1, s2 = _update(code, float(params[i]), g, s1, s2, k, c1, c2, shrink)
        params[i] = dtype(w)
        if moves1:
            state1[i] = dtype(s1)
        if moves2:
            state2[i] = dtype(s2)
