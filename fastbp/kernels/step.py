"""Whole-batch and whole-epoch kernels: forward, BP1-BP4 and the update in compiled code.

Three layers, outermost first:

- ``train_epoch`` (serial) loops over mini-batches without returning to Python;
- ``backprop_batch`` (or ``backprop_batch_by_neuron``), ``gradient_step`` and
  ``forward_batch`` (parallel) share one batch among threads;
- ``_forward`` / ``_output_error`` / ``_backward`` (serial) do the work for a range of
  samples and of neurons of one layer.

How the work is shared: forward, BP1 and BP2 are independent per sample, so the batch
is cut into one contiguous shard of samples per thread (or, for large layers, each
layer's neurons are cut instead, so that each thread reads only its slice of W).
BP3/BP4 sum over samples, so there the gradient is cut instead: each thread owns a
slice of rows of every dC/dW[l], sums the batch in sample order and applies the
optimiser's update to its rows of W[l]. No value depends on which thread computed it,
so results are bit-identical for any thread count, and no per-thread copy of the
gradient has to be reduced.

Buffers (see ``layout``): ``params`` holds W[l] and b[l]; ``a_ws`` and ``d_ws`` the
activations and deltas of a batch of up to ``cap`` samples.
"""

import math

import numpy as np
from numba import prange

from .._config import jit
from .activations import SOFTMAX
from .backprop import delta_backward, delta_product, gradient_rows
from .checks import max_abs_range
from .costs import cost, output_delta
from .dense import dense_forward
from .dropout import drop_outputs, multiply_by_dropped_derivative
from .gemm import PACK_SIZE
from .layout import A_OFF, ACT, B_OFF, D_OFF, N_IN, N_OUT, W_LD, W_OFF, Z_OFF
from .optimizers import (
    ADAM,
    ADAMW,
    BETA1,
    EPSILON,
    ETA,
    MU,
    RHO,
    RMSPROP,
    SGD,
    WEIGHT_DECAY,
    keeps_squares,
    update_rows,
)
from .simd import PANEL

NO_DROPOUT = np.zeros(0)  # rates for kernels that run without dropout

# The divergence guard of train_epoch: a bound on an update's entries, per dtype. Far
# beyond any sound training step, far below overflow.
UPDATE_LIMIT_32 = 1e30
UPDATE_LIMIT_64 = 1e290

# Share layers by neurons when a layer has at least this many weights (and there is more
# than one thread): then reading W once per thread costs more than a barrier per layer.
BY_NEURON_MIN_WEIGHTS = 1 << 18


def by_neuron_pays(table, n_shards):
    """Whether ``backprop_batch_by_neuron`` should be used for this network."""
    return n_shards > 1 and int((table[:, N_IN] * table[:, N_OUT]).max()) >= BY_NEURON_MIN_WEIGHTS


@jit
def _shard_bounds(shard, n_shards, m):
    return shard * m // n_shards, (shard + 1) * m // n_shards


@jit
def _column_bounds(shard, n_shards, n):
    """Neurons of a shard: whole panels of the axpy tile's columns (float32), so that
    tiles stay full."""
    chunk = -(-n // (n_shards * PANEL)) * PANEL
    return min(shard * chunk, n), min((shard + 1) * chunk, n)


@jit
def _gather(table, X, order, start, a_ws, s0, s1):
    """A[0] of samples ``s0:s1``: rows ``order[start + s]`` of X."""
    n_0 = table[0, N_IN]
    for s in range(s0, s1):
        row = order[start + s]
        for i in range(n_0):  # a loop, not a slice copy: no shape check to compile
            a_ws[s * n_0 + i] = X[row, i]


@jit
def _dropping(rates, l):
    return rates.shape[0] > 0 and rates[l] > 0


@jit
def _forward(params, table, l, cap, a_ws, s0, s1, j0, j1, rates, drop_seed, t):
    """Neurons ``j0:j1`` of layer row ``l`` for samples ``s0:s1``; with dropout (see
    ``dropout``) when ``rates`` holds a rate per layer row (empty: none)."""
    n_in, n_out = table[l, N_IN], table[l, N_OUT]
    x_off = 0 if l == 0 else cap * table[l - 1, A_OFF]
    a_off = cap * table[l, A_OFF] + s0 * n_out
    z_off = cap * table[l, Z_OFF] + s0 * n_out if table[l, Z_OFF] >= 0 else -1  # Z kept?
    dense_forward(a_ws, x_off + s0 * n_in, n_in, params, table[l, W_OFF], table[l, W_LD],
                  params, table[l, B_OFF], n_out, table[l, ACT], a_ws, a_off, z_off, s1 - s0,
                  j0, j1)
    if _dropping(rates, l):
        drop_outputs(a_ws, a_off, n_out, s1 - s0, s0, j0, j1, rates[l], drop_seed, t, l)


@jit
def _backward(params, table, l, cap, a_ws, d_ws, s0, s1, k0, k1, pack, rates, drop_seed, t):
    """BP2 for neurons ``k0:k1`` of layer row ``l`` (not the last) for samples ``s0:s1``."""
    n, n_next = table[l, N_OUT], table[l + 1, N_OUT]
    dn_off = cap * table[l + 1, D_OFF] + s0 * n_next
    from_z = table[l, Z_OFF] >= 0  # f_l' from Z[l] where it needs z, else from A[l]
    a_off = cap * (table[l, Z_OFF] if from_z else table[l, A_OFF]) + s0 * n
    d_off = cap * table[l, D_OFF] + s0 * n
    w_off, w_ld = table[l + 1, W_OFF], table[l + 1, W_LD]
    if _dropping(rates, l):
        delta_product(d_ws, dn_off, n_next, params, w_off, w_ld, d_ws, d_off, n, s1 - s0, k0, k1,
                      pack)
        multiply_by_dropped_derivative(d_ws, d_off, a_ws, a_off, n, s1 - s0, s0, k0, k1,
                                       table[l, ACT], from_z, rates[l], drop_seed, t, l)
    else:
        delta_backward(d_ws, dn_off, n_next, params, w_off, w_ld, a_ws, a_off, table[l, ACT],
                       d_ws, d_off, n, s1 - s0, k0, k1, pack)


@jit
def _argmax(v):
    best = 0
    for j in range(1, v.shape[0]):
        if v[j] > v[best]:
            best = j
    return best


@jit
def _output_error(table, cost_code, Y, weight, order, start, cap, a_ws, d_ws, sample_cost,
                  sample_correct, s0, s1):
    """Cost, correctness and BP1 for samples ``s0:s1`` whose forward pass is in ``a_ws``.

    ``weight`` holds a weight per sample of X (or nothing): a sample's cost and its
    output error, hence its share of the gradient, are multiplied by its weight.
    """
    L = table.shape[0]
    n_L = table[L - 1, N_OUT]
    for s in range(s0, s1):
        a = a_ws[cap * table[L - 1, A_OFF] + s * n_L:][:n_L]
        y = Y[order[start + s]]
        delta = d_ws[cap * table[L - 1, D_OFF] + s * n_L:][:n_L]
        sample_cost[s] = cost(a, y, cost_code)
        if n_L == 1:
            sample_correct[s] = (a[0] > 0.5) == (y[0] > 0.5)
        else:
            sample_correct[s] = _argmax(a) == _argmax(y)
        z_off = table[L - 1, Z_OFF]  # f_L' from Z[L] where it needs z
        x = a if z_off < 0 else a_ws[cap * z_off + s * n_L:][:n_L]
        output_delta(a, y, table[L - 1, ACT], cost_code, delta, x)
        if weight.shape[0] > 0:
            w = weight[order[start + s]]
            sample_cost[s] *= w
            for j in range(n_L):
                delta[j] = delta[j] * delta.dtype.type(w)


@jit
def _shard_magnitude(table, cap, a_ws, d_ws, s0, s1, magnitude, shard):
    """The largest |A[l]| and |D[l]| of samples ``s0:s1`` over layers 1..L, into row
    ``shard`` of ``magnitude`` (for the divergence guard of ``train_epoch``)."""
    a_max = 0.0
    d_max = 0.0
    for l in range(table.shape[0]):
        n = table[l, N_OUT]
        a_max = max_abs_range(a_ws, cap * table[l, A_OFF] + s0 * n, (s1 - s0) * n, a_max)
        d_max = max_abs_range(d_ws, cap * table[l, D_OFF] + s0 * n, (s1 - s0) * n, d_max)
    magnitude[shard, 0] = a_max
    magnitude[shard, 1] = d_max


@jit(parallel=True)
def _magnitude_batch(table, m, cap, a_ws, d_ws, magnitude, n_shards):
    n_shards = min(m, n_shards)
    for shard in prange(n_shards):
        s0, s1 = _shard_bounds(shard, n_shards, m)
        _shard_magnitude(table, cap, a_ws, d_ws, s0, s1, magnitude, shard)


@jit(parallel=True)
def forward_batch(params, table, X, order, start, m, cap, a_ws, n_shards, rates, drop_seed, t):
    """A[L] of samples ``order[start:start + m]``, left in the activation workspace.

    ``n_shards`` is the number of threads (``numba.get_num_threads()`` inside a kernel
    would keep it out of the on-disk cache). ``rates``, ``drop_seed``, ``t``: as in
    ``backprop_batch`` (``NO_DROPOUT``, 0, 0 for none); taken as arguments so that
    ``_forward`` is compiled for the same types as there, once.
    """
    n_shards = min(m, n_shards)
    for shard in prange(n_shards):
        s0, s1 = _shard_bounds(shard, n_shards, m)
        _gather(table, X, order, start, a_ws, s0, s1)
        for l in range(table.shape[0]):
            _forward(params, table, l, cap, a_ws, s0, s1, 0, table[l, N_OUT], rates, drop_seed,
                     t)


@jit(parallel=True)
def backprop_batch(params, table, cost_code, X, Y, weight, order, start, m, cap, a_ws, d_ws,
                   sample_cost, sample_correct, pack_ws, n_shards, rates, drop_seed, t,
                   magnitude, backward):
    """Forward, cost, BP1 and (with ``backward``) BP2 for samples
    ``order[start:start + m]``, each thread taking a shard of the samples through all
    layers: one parallel region. Evaluation needs no BP2.

    ``pack_ws`` holds ``n_shards`` scratch areas of ``PACK_SIZE``, one per shard.
    ``rates``, ``drop_seed``, ``t``: dropout per layer row (empty: none), its seed and
    the step whose masks are drawn (see ``dropout``). With ``backward``, row ``shard``
    of ``magnitude`` (n_shards, 2) receives the shard's largest |A| and |D|.
    """
    n_shards = min(m, n_shards)
    for shard in prange(n_shards):
        s0, s1 = _shard_bounds(shard, n_shards, m)
        pack = pack_ws[shard * PACK_SIZE:(shard + 1) * PACK_SIZE]
        _gather(table, X, order, start, a_ws, s0, s1)
        for l in range(table.shape[0]):
            _forward(params, table, l, cap, a_ws, s0, s1, 0, table[l, N_OUT], rates,
                     drop_seed, t)
        _output_error(table, cost_code, Y, weight, order, start, cap, a_ws, d_ws, sample_cost,
                      sample_correct, s0, s1)
        if backward:
            for l in range(table.shape[0] - 2, -1, -1):
                _backward(params, table, l, cap, a_ws, d_ws, s0, s1, 0, table[l, N_OUT], pack,
                          rates, drop_seed, t)
            _shard_magnitude(table, cap, a_ws, d_ws, s0, s1, magnitude, shard)


@jit(parallel=True)
def _forward_layer_by_neuron(params, table, l, m, cap, a_ws, n_shards, rates, drop_seed, t):
    if table[l, ACT] == SOFTMAX:  # needs whole rows: share the samples instead
        shards = min(m, n_shards)
        for shard in prange(shards):
            s0, s1 = _shard_bounds(shard, shards, m)
            _forward(params, table, l, cap, a_ws, s0, s1, 0, table[l, N_OUT], rates, drop_seed,
                     t)
    else:
        for shard in prange(n_shards):
            j0, j1 = _column_bounds(shard, n_shards, table[l, N_OUT])
            if j0 < j1:
                _forward(params, table, l, cap, a_ws, 0, m, j0, j1, rates, drop_seed, t)


@jit(parallel=True)
def _backward_layer_by_neuron(params, table, l, m, cap, a_ws, d_ws, pack_ws, n_shards, rates,
                              drop_seed, t):
    for shard in prange(n_shards):
        k0, k1 = _column_bounds(shard, n_shards, table[l, N_OUT])
        if k0 < k1:
            _backward(params, table, l, cap, a_ws, d_ws, 0, m, k0, k1,
                      pack_ws[shard * PACK_SIZE:(shard + 1) * PACK_SIZE], rates, drop_seed, t)


@jit(parallel=True)
def _gather_batch(table, X, order, start, m, a_ws, n_shards):
    n_shards = min(m, n_shards)
    for shard in prange(n_shards):
        s0, s1 = _shard_bounds(shard, n_shards, m)
        _gather(table, X, order, start, a_ws, s0, s1)


@jit(parallel=True)
def _output_error_batch(table, cost_code, Y, weight, order, start, m, cap, a_ws, d_ws,
                        sample_cost, sample_correct, n_shards):
    n_shards = min(m, n_shards)
    for shard in prange(n_shards):
        s0, s1 = _shard_bounds(shard, n_shards, m)
        _output_error(table, cost_code, Y, weight, order, start, cap, a_ws, d_ws, sample_cost,
                      sample_correct, s0, s1)


@jit
def backprop_batch_by_neuron(params, table, cost_code, X, Y, weight, order, start, m, cap, a_ws,
                             d_ws, sample_cost, sample_correct, pack_ws, n_shards, rates,
                             drop_seed, t, magnitude):
    """The same as ``backprop_batch``, but each layer's forward pass and BP2 is shared by
    neurons: a thread reads only its slice of W instead of all of it, at the price of a
    parallel region (a barrier) per layer. For networks with large layers."""
    _gather_batch(table, X, order, start, m, a_ws, n_shards)
    for l in range(table.shape[0]):
        _forward_layer_by_neuron(params, table, l, m, cap, a_ws, n_shards, rates, drop_seed, t)
    _output_error_batch(table, cost_code, Y, weight, order, start, m, cap, a_ws, d_ws,
                        sample_cost, sample_correct, n_shards)
    for l in range(table.shape[0] - 2, -1, -1):
        _backward_layer_by_neuron(params, table, l, m, cap, a_ws, d_ws, pack_ws, n_shards, rates,
                                  drop_seed, t)
    _magnitude_batch(table, m, cap, a_ws, d_ws, magnitude, n_shards)


@jit(parallel=True)
def gradient_step(params, table, m, cap, a_ws, d_ws, grad, state1, state2, optimizer, hyper, t,
                  pack_ws, n_shards):
    """BP3 and BP4 for the batch in the workspaces, and the optimiser's update.

    ``optimizer`` is a code of ``optimizers``, or -1 for no update: the gradient's batch
    sums (m dC/dW, m dC/db) are left in ``grad``. Plain SGD without weight decay is
    fused into BP4 (no gradient is stored, ``grad`` is not used); the others first
    leave the sums in ``grad`` and then update ``params``, ``state1`` and ``state2``,
    row by row. ``hyper`` and ``t`` are as in ``optimizers.update_rows``.

    Needs ``backprop_batch`` to have filled the workspaces. Shard ``s`` takes the
    ``s``-th slice of the rows of every layer, so the threads share every layer.
    """
    fused = optimizer == SGD and hyper[WEIGHT_DECAY] == 0
    out = params if fused else grad
    step = hyper[ETA] / m if fused else 0.0
    for shard in prange(n_shards):
        pack = pack_ws[shard * PACK_SIZE:(shard + 1) * PACK_SIZE]
        for l in range(table.shape[0]):
            n_in, n_out = table[l, N_IN], table[l, N_OUT]
            j0, j1 = _shard_bounds(shard, n_shards, n_out)
            if j0 == j1:
                continue
            a_off = 0 if l == 0 else cap * table[l - 1, A_OFF]
            w_off, w_ld, b_off = table[l, W_OFF], table[l, W_LD], table[l, B_OFF]
            gradient_rows(d_ws, cap * table[l, D_OFF], n_out, a_ws, a_off, n_in, m, out,
                          w_off, w_ld, b_off, j0, j1, step, pack)
            if not fused and optimizer >= 0:
                update_rows(optimizer, params, grad, state1, state2, w_off, w_ld, n_in, b_off,
                            j0, j1, m, hyper, t)


@jit(parallel=True)
def apply_update(params, table, grad, state1, state2, optimizer, hyper, t, m, n_shards):
    """The optimiser's update from batch sums already in ``grad`` (m dC/dW, m dC/db of
    a batch of ``m`` samples), for data-parallel training, where the sums of several
    processes are added before the update. Each shard takes a slice of every layer's
    rows, as in ``gradient_step``."""
    plain = optimizer == SGD and hyper[WEIGHT_DECAY] == 0
    step = params.dtype.type(hyper[ETA] / m)
    for shard in prange(n_shards):
        for l in range(table.shape[0]):
            j0, j1 = _shard_bounds(shard, n_shards, table[l, N_OUT])
            if j0 == j1:
                continue
            w_off, w_ld = table[l, W_OFF], table[l, W_LD]
            n_in, b_off = table[l, N_IN], table[l, B_OFF]
            if plain:  # W -= (eta / m) G, in the parameters' type: a vectorised axpy
                for j in range(j0, j1):
                    row = w_off + j * w_ld
                    for i in range(row, row + n_in):
                        params[i] -= step * grad[i]
                    params[b_off + j] -= step * grad[b_off + j]
            else:
                update_rows(optimizer, params, grad, state1, state2, w_off, w_ld, n_in, b_off,
                            j0, j1, m, hyper, t)


@jit
def update_bounds(optimizer, hyper, t, g_max, w_max, s_max):
    """Bounds on max|params| and on the optimiser's state after one update, from bounds
    before it: ``g_max`` on the entries of the batch-mean gradient (without weight
    decay), ``w_max`` on |params|, ``s_max`` on |state1| and sqrt|state2|. Returns
    (w_max, s_max) after the update; the divergence guard compares them to its limit.

    With g = g_max + lambda w_max: SGD moves a parameter by at most eta g; momentum's
    velocity is at most mu s_max + eta g, and Nesterov's step that plus eta g; Adam's
    moments stay below max(s_max, g) and its step below eta s1 / ((1 - beta1^t) eps).
    AdamW: the same with g_max (its decay is not in g), after W is multiplied by
    1 - eta lambda (b is not: a factor of at most max(1, |1 - eta lambda|)). RMSprop:
    sqrt(s2) stays below max(s_max, g); r = g / (sqrt(s2) + eps) below g / eps, and, as
    s2 >= (1 - rho) g^2, below 1 / sqrt(1 - rho) (with a margin for rounding) wherever
    g^2 (1 - rho) does not underflow, i.e. |g| > 1e-145 (else r < 2e-145 / eps); the
    momentum buffer stays below mu s_max + r, and the step below eta times that.
    """
    eta = hyper[ETA]
    g = g_max + hyper[WEIGHT_DECAY] * w_max
    if optimizer == SGD:
        return w_max + eta * g, s_max
    if optimizer == ADAM:
        s_next = max(s_max, g)
        return w_max + eta * s_next / ((1.0 - hyper[BETA1] ** t) * hyper[EPSILON]), s_next
    if optimizer == ADAMW:
        s_next = max(s_max, g_max)
        return (max(1.0, abs(1.0 - eta * hyper[WEIGHT_DECAY])) * w_max
                + eta * s_next / ((1.0 - hyper[BETA1] ** t) * hyper[EPSILON])), s_next
    if optimizer == RMSPROP:
        eps = hyper[EPSILON]
        r = min(g / eps, max(1.000001 / math.sqrt(1.0 - hyper[RHO]), 2e-145 / eps))
        v = hyper[MU] * s_max + r  # the step, and with momentum the buffer
        return w_max + eta * v, max(s_max, g, v if hyper[MU] > 0 else 0.0)
    s_next = hyper[MU] * s_max + eta * g
    return w_max + s_next + eta * g, s_next


@jit(parallel=True)
def parameter_magnitude(params, state1, state2, optimizer, magnitude, n_shards):
    """(max|params|, max(|state1|, sqrt|state2|)), NaN counted as infinity: the exact
    values ``update_bounds`` starts from. ``magnitude`` is a (n_shards, 2) scratch."""
    n = params.shape[0]
    for shard in prange(n_shards):
        i0, i1 = _shard_bounds(shard, n_shards, n)
        magnitude[shard, 0] = max_abs_range(params, i0, i1 - i0, 0.0)
        s = 0.0
        if optimizer != SGD:  # plain SGD keeps no state
            s = max_abs_range(state1, i0, i1 - i0, 0.0)
            s = max(s, math.sqrt(max_abs_range(state2, i0, i1 - i0, 0.0)))
        magnitude[shard, 1] = s
    w_max = 0.0
    s_max = 0.0
    for shard in range(n_shards):
        w_max = max(w_max, magnitude[shard, 0])
        s_max = max(s_max, magnitude[shard, 1])
    return w_max, s_max


@jit
def bounded(optimizer, hyper, t, g_max, w_max, s_max, limit):
    """Whether the update's bounds (see ``update_bounds``) stay below ``limit``; Adam's
    (AdamW's, RMSprop's) second moment holds squares, so its bound squared must too."""
    w_next, s_next = update_bounds(optimizer, hyper, t, g_max, w_max, s_max)
    s_bound = s_next * s_next if keeps_squares(optimizer) else s_next
    return w_next < limit and s_bound < limit


@jit
def train_epoch(params, table, cost_code, X, Y, weight, order, batch_size, first_batch,
                last_batch, optimizer, hyper, t0, grad, state1, state2, a_ws, d_ws,
                sample_cost, sample_correct, batch_cost, batch_correct, pack_ws, n_shards,
                by_neuron, rates, drop_seed, x_max, magnitude):
    """Mini-batch SGD over batches ``first_batch:last_batch`` of the shuffled ``order``.

    Batch b holds samples ``order[b * batch_size : (b + 1) * batch_size]`` (the last
    may be shorter). ``batch_cost[b]`` receives the summed cost of its samples before
    the update and ``batch_correct[b]`` how many were classified correctly. The
    optimiser's step count is ``t0`` before the first batch (see ``gradient_step``). With
    ``by_neuron`` True the forward pass and BP2 are shared by neurons (see
    ``backprop_batch_by_neuron``; the results are the same to the bit); None, not False,
    shares by samples: Numba then prunes the other branch before typing it, so only the
    way in use is compiled. ``weight``: see
    ``_output_error``; ``rates``, ``drop_seed``: dropout (see ``backprop_batch``), whose
    masks are drawn for the step's count.

    The divergence guard: a batch's update is applied only if its cost is finite and
    the update is bounded, i.e. every activation and delta is finite and
    max(eta, 1) * m * max|D| * max(|A|, ``x_max``) (a bound on each entry of eta times
    the batch sum of BP4) stays below ``UPDATE_LIMIT``. Otherwise the epoch stops before
    that update, so the parameters hold the result of the last finite step. With weight
    decay, momentum or Adam, which move the parameters by more than the gradient, the
    parameters and the optimiser's state after the update are bounded too: bounds
    carried from step to step by ``update_bounds``, and, where those reach the limit
    (and at the first step of a call), the exact maxima (``parameter_magnitude``, one
    pass over the parameters). Plain SGD keeps the bound above alone: a step moves a
    weight by less than the limit, which is 1e8 times below float32's largest value.
    ``magnitude`` is a (n_shards, 2) scratch array. Returns the index of the first batch
    not applied: ``last_batch`` when all were.
    """
    n = order.shape[0]
    limit = UPDATE_LIMIT_32 if params.itemsize == 4 else UPDATE_LIMIT_64
    w_max = np.inf  # bounds on |params| and on the state, taken exactly when needed
    s_max = np.inf
    for b in range(first_batch, last_batch):
        start = b * batch_size
        m = min(batch_size, n - start)
        t = t0 + b - first_batch + 1
        if by_neuron is not None:
            backprop_batch_by_neuron(params, table, cost_code, X, Y, weight, order, start, m,
                                     batch_size, a_ws, d_ws, sample_cost, sample_correct,
                                     pack_ws, n_shards, rates, drop_seed, t, magnitude)
        else:
            # backward = m > 0, true, but a bool where the literal True would be a type
            # of its own: evaluation's calls then share this compiled backprop_batch.
            backprop_batch(params, table, cost_code, X, Y, weight, order, start, m,
                           batch_size, a_ws, d_ws, sample_cost, sample_correct, pack_ws,
                           n_shards, rates, drop_seed, t, magnitude, m > 0)
        total = 0.0
        correct = 0
        for s in range(m):  # in sample order: the sum does not depend on the threads
            total += sample_cost[s]
            correct += sample_correct[s]
        batch_cost[b] = total
        batch_correct[b] = correct
        a_max = x_max
        d_max = 0.0
        for shard in range(min(m, n_shards)):
            a_max = max(a_max, magnitude[shard, 0])
            d_max = max(d_max, magnitude[shard, 1])
        if not (abs(total) < np.inf and max(hyper[ETA], 1.0) * m * d_max * a_max < limit):
            return b
        if optimizer != SGD or hyper[WEIGHT_DECAY] != 0:  # plain SGD: bounded above
            g_max = d_max * a_max
            if not bounded(optimizer, hyper, t, g_max, w_max, s_max, limit):
                w_max, s_max = parameter_magnitude(params, state1, state2, optimizer,
                                                   magnitude, n_shards)
                if not bounded(optimizer, hyper, t, g_max, w_max, s_max, limit):
                    return b
            w_max, s_max = update_bounds(optimizer, hyper, t, g_max, w_max, s_max)
        gradient_step(params, table, m, batch_size, a_ws, d_ws, grad, state1, state2,
                      optimizer, hyper, t, pack_ws, n_shards)
    return last_batch
