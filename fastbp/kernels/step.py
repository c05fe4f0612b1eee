"""Whole-batch and whole-epoch kernels: forward, BP1-BP4 and the update in compiled code.

Three layers, outermost first:

- ``train_epoch`` (serial) loops over mini-batches without returning to Python;
- ``backprop_batch``, ``gradient_step`` and ``update`` (parallel) share one batch among
  threads;
- ``_run_phase`` (serial) does one phase of a batch (gathering the inputs, a layer's
  forward pass, the cost and BP1, a layer's BP2, the divergence guard's maxima) for a
  range of samples and of neurons.

One step is: the gradient's batch sums (BP1-BP4) -> their reduction (nothing in one
process, an all-reduce across processes, see ``fastbp.distributed``) -> the divergence
guard (``admissible``) -> the optimiser's update. In one process the guard is checked
before BP4, from bounds, so that plain SGD can be fused into BP4 (the gradient never
passes through memory); across processes it is checked after the all-reduce, from the
same bounds summed over the ranks.

How the work is shared: forward, BP1 and BP2 are independent per sample, so the batch
is cut into one contiguous shard of samples per thread, which runs every phase in one
parallel region; or, for large layers, each phase is its own parallel region, in which
each layer's neurons are cut instead, so that each thread reads only its slice of W.
BP3/BP4 sum over samples, so there the gradient is cut instead: each thread owns a
slice of rows of every dC/dW[l], sums the batch in sample order and applies the
optimiser's update to its rows of W[l]. No value depends on which thread computed it,
so results are bit-identical for any thread count, and no per-thread copy of the
gradient has to be reduced.

Arguments are the named structures of ``structures``.

A thread's work in ``_phases_by_sample``, ``_phase_by_neuron`` and ``gradient_step``
(``_shard_phases``, ``_phase``, ``_gradient_shard``) is compiled once per signature as a
C function called by symbol (see ``linked``), not again inside each parallel kernel and
``train_epoch`` above it.

Parallel loops are written ``prange(0, n)``: Numba types the index of ``prange(n)`` as
int64 when it types the kernel and as uint64 in the parallel body it then builds, and
compiles every callee that takes the index twice (``_run_phase`` and all below it).
"""

import math

import numpy as np
from numba import prange

from .._config import jit
from .activations import SOFTMAX
from .backprop import delta_product, derivative_rows, gradient_rows
from .checks import max_abs_range
from .costs import cost, output_delta
from .dense import dense_forward
from .dropout import drop_outputs, multiply_by_dropped_derivative
from .layout import A_OFF, ACT, B_OFF, D_OFF, N_IN, N_OUT, W_LD, W_OFF, Z_OFF
from .linked import compiled_alone
from .mixed import (
    DELTA_OPERANDS,
    INPUT_OPERANDS,
    NO_OPERANDS,
    OUTPUT_OPERANDS,
    even_bounds,
    float32_layer,
    mixed_delta_product,
    mixed_forward,
    mixed_layer_step,
    operands_of,
    pack_rows,
    pack_weights,
)
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
from .sparse import (
    by_input,
    input_weights,
    lazy_update,
    present_features,
    sparse_forward,
    sparse_gradient_rows,
    zero_feature_rows,
)
from .structures import Batch, MixedModel, NoDropout, Rows, borrowed, by_structure, scratch

# The divergence guard (``admissible``): a bound on an update's entries, per dtype. Far
# beyond any sound training step, far below overflow.
UPDATE_LIMIT_32 = 1e30
UPDATE_LIMIT_64 = 1e290

# Share layers by neurons when a layer has at least this many weights (and there is more
# than one thread): then reading W once per thread costs more than a barrier per layer.
# Tests set it to 0 to run the sharing by neurons on small networks.
BY_NEURON_MIN_WEIGHTS = 1 << 18

# How far ``backprop_batch`` goes: the forward pass; and the cost and BP1; and BP2.
FORWARD_PASS, COST, DELTAS = range(3)
# The phases of a batch (see ``_phase_at``).
GATHER, FORWARD, OUTPUT, BACKWARD, MAGNITUDE = range(5)


def by_neuron_pays(table, n_shards):
    """Whether the sharing by neurons should be used for this network."""
    return n_shards > 1 and int((table[:, N_IN] * table[:, N_OUT]).max()) >= BY_NEURON_MIN_WEIGHTS


@jit(inline=True)
def _shard_bounds(shard, n_shards, m):
    return shard * m // n_shards, (shard + 1) * m // n_shards


@jit
def _column_bounds(shard, n_shards, n):
    """Neurons of a shard: whole panels of the axpy tile's columns (float32), so that
    tiles stay full."""
    chunk = -(-n // (n_shards * PANEL)) * PANEL
    return min(shard * chunk, n), min((shard + 1) * chunk, n)


@jit(inline=True)
def _n_phases(L, depth):
    """Phases of a batch through ``depth`` (FORWARD_PASS, COST or DELTAS)."""
    if depth == FORWARD_PASS:
        return 1 + L
    if depth == COST:
        return 2 + L
    return 2 * L + 2


@jit(inline=True)
def _phase_at(i, L):
    """Phase ``i`` of a batch as (phase, layer row): GATHER, FORWARD 0..L-1, OUTPUT,
    BACKWARD L-2..0, MAGNITUDE."""
    if i == 0:
        return GATHER, 0
    if i <= L:
        return FORWARD, i - 1
    if i == L + 1:
        return OUTPUT, L - 1
    if i < 2 * L + 1:
        return BACKWARD, 2 * L - i
    return MAGNITUDE, 0


@jit(inline=True)
def _gather(samples, model, ws, batch, s0, s1):
    """A[0] of samples ``s0:s1``: rows ``order[start + s]`` of X."""
    n_0 = model.table[0, N_IN]
    for s in range(s0, s1):
        row = samples.order[batch.start + s]
        for i in range(n_0):  # a loop, not a slice copy: no shape check to compile
            ws.a[s * n_0 + i] = samples.X[row, i]


@jit
def _read_in_place(samples, model, ws, batch, s0, s1):
    """Sparse inputs are read where they are, by the first layer (see ``sparse``)."""


_gather_inputs = by_input(_gather, _read_in_place)


@jit(inline=True)
def _dropping(rates, l):
    return rates.shape[0] > 0 and rates[l] > 0


@jit(inline=True)
def _weights(model, l):
    """W of layer row ``l`` in the parameter vector."""
    return Rows(model.params, model.table[l, W_OFF], model.table[l, W_LD])


@jit(inline=True)
def _forward(model, samples, l, ws, batch, s0, s1, j0, j1, drop, pack):
    """Neurons ``j0:j1`` of layer row ``l`` for samples ``s0:s1``; with dropout (see
    ``dropout``) when ``drop.rates`` holds a rate per layer row."""
    table, cap, a_ws = model.table, ws.cap, ws.a
    n_in, n_out = table[l, N_IN], table[l, N_OUT]
    x_off = 0 if l == 0 else cap * table[l - 1, A_OFF]
    a_off = cap * table[l, A_OFF] + s0 * n_out
    z_off = cap * table[l, Z_OFF] + s0 * n_out if table[l, Z_OFF] >= 0 else -1  # Z kept?
    _product_forward(model, samples, l, batch.start + s0, Rows(a_ws, x_off + s0 * n_in, n_in),
                     Rows(a_ws, a_off, n_out), z_off, s0, s1 - s0, j0, j1, pack)
    _drop_outputs(drop, a_ws, a_off, n_out, s1 - s0, s0, j0, j1, batch.t, l)


@jit(inline=True)
def _dropped_outputs(drop, a, a_off, n_out, rows, s0, j0, j1, t, l):
    if _dropping(drop.rates, l):
        drop_outputs(a, a_off, n_out, rows, s0, j0, j1, drop.rates[l], drop.seed, t, l)


@jit(inline=True)
def _kept_outputs(drop, a, a_off, n_out, rows, s0, j0, j1, t, l):
    pass


# Dropout's code is compiled only for a ``Dropout``: training without it and evaluation
# pass a ``NoDropout`` (NO_DROPOUT), for which these are chosen by type and the masks
# never compiled (about 2-3 s of a first run's compiling).
_drop_outputs = by_structure(NoDropout, _dropped_outputs, _kept_outputs)


@jit
def _float_forward(model, samples, l, first, In, A, z_off, s0, rows, j0, j1, pack):
    _layer_forward(samples, model, l, first, In, A, z_off, rows, j0, j1)


@jit
def _mixed_forward(model, samples, l, first, In, A, z_off, s0, rows, j0, j1, pack):
    if float32_layer(model.table, l):
        _layer_forward(samples, model, l, first, In, A, z_off, rows, j0, j1)
    else:
        mixed_forward(model, l, A, z_off, model.table[l, ACT], s0, rows, j0, j1, pack)


@jit(inline=True)
def _dense_layer_forward(samples, model, l, first, In, A, z_off, rows, j0, j1):
    """Layer row ``l``'s forward pass from its inputs ``In`` in the workspace."""
    table = model.table
    dense_forward(In, _weights(model, l), table[l, B_OFF], A, z_off, table[l, ACT], rows, j0,
                  j1)


@jit
def _sparse_layer_forward(samples, model, l, first, In, A, z_off, rows, j0, j1):
    """The first layer's from the sparse inputs, the others' as for dense inputs."""
    if l == 0:
        table = model.table
        sparse_forward(samples, samples.order, first, input_weights(model.params, table),
                       table[0, B_OFF], A, z_off, table[0, ACT], rows, j0, j1)
    else:
        _dense_layer_forward(samples, model, l, first, In, A, z_off, rows, j0, j1)


_layer_forward = by_input(_dense_layer_forward, _sparse_layer_forward)
_product_forward = by_structure(MixedModel, _float_forward, _mixed_forward)


@jit(inline=True)
def _backward(model, l, ws, s0, s1, k0, k1, pack, drop, t):
    """BP2 for neurons ``k0:k1`` of layer row ``l`` (not the last) for samples ``s0:s1``."""
    table, cap, d_ws = model.table, ws.cap, ws.d
    n, n_next = table[l, N_OUT], table[l + 1, N_OUT]
    dn_off = cap * table[l + 1, D_OFF] + s0 * n_next
    from_z = table[l, Z_OFF] >= 0  # f_l' from Z[l] where it needs z, else from A[l]
    f_off = cap * (table[l, Z_OFF] if from_z else table[l, A_OFF]) + s0 * n
    d_off = cap * table[l, D_OFF] + s0 * n
    F, D = Rows(ws.a, f_off, n), Rows(d_ws, d_off, n)
    _product_backward(model, l, Rows(d_ws, dn_off, n_next), D, s0, s1 - s0, k0, k1, pack)
    _multiply_by_derivative(drop, D, F, s1 - s0, s0, k0, k1, table[l, ACT], from_z, t, l)


@jit(inline=True)
def _dropped_derivative(drop, D, F, rows, s0, k0, k1, activation_code, from_z, t, l):
    if _dropping(drop.rates, l):
        multiply_by_dropped_derivative(D, F, rows, s0, k0, k1, activation_code, from_z, drop,
                                       t, l)
    else:
        derivative_rows(F, activation_code, D, rows, k0, k1)


@jit(inline=True)
def _derivative(drop, D, F, rows, s0, k0, k1, activation_code, from_z, t, l):
    derivative_rows(F, activation_code, D, rows, k0, k1)


_multiply_by_derivative = by_structure(NoDropout, _dropped_derivative, _derivative)


@jit(inline=True)
def _float_backward(model, l, D_next, D, s0, rows, k0, k1, pack):
    delta_product(D_next, _weights(model, l + 1), D, rows, k0, k1, pack)


@jit
def _mixed_backward(model, l, D_next, D, s0, rows, k0, k1, pack):
    mixed_delta_product(model, l, D_next, D, s0, rows, k0, k1, pack)


_product_backward = by_structure(MixedModel, _float_backward, _mixed_backward)


@jit(inline=True)
def _argmax(v):
    best = 0
    for j in range(1, v.shape[0]):
        if v[j] > v[best]:
            best = j
    return best


def _output_error_of(model, samples, ws, batch, s0, s1):
    """Cost, correctness and BP1 for samples ``s0:s1`` whose forward pass is in ``ws.a``.

    ``samples.weight`` holds a weight per sample of X (or nothing): a sample's cost and
    its output error, hence its share of the gradient, are multiplied by its weight.
    """
    table, cap, order, weight = model.table, ws.cap, samples.order, samples.weight
    L = table.shape[0]
    n_L = table[L - 1, N_OUT]
    for s in range(s0, s1):
        a = ws.a[cap * table[L - 1, A_OFF] + s * n_L:][:n_L]
        y = samples.Y[order[batch.start + s]]
        delta = ws.d[cap * table[L - 1, D_OFF] + s * n_L:][:n_L]
        ws.cost[s] = cost(a, y, model.cost_code)
        if n_L == 1:
            ws.correct[s] = (a[0] > 0.5) == (y[0] > 0.5)
        else:
            ws.correct[s] = _argmax(a) == _argmax(y)
        z_off = table[L - 1, Z_OFF]  # f_L' from Z[L] where it needs z
        x = a if z_off < 0 else ws.a[cap * z_off + s * n_L:][:n_L]
        output_delta(a, y, table[L - 1, ACT], model.cost_code, delta, x)
        if weight.shape[0] > 0:
            w = weight[order[batch.start + s]]
            ws.cost[s] *= w
            for j in range(n_L):
                delta[j] = delta[j] * delta.dtype.type(w)


# Compiled once, not again in every library above it (and Numba's inliner, asked to
# inline it, got BP1 or the cost wrong: a reference test).
_output_error = compiled_alone("output_error", _output_error_of)


@jit(inline=True)
def _shard_magnitude(model, ws, s0, s1, shard):
    """The largest |A[l]| and |D[l]| of samples ``s0:s1`` over layers 1..L, into row
    ``shard`` of ``ws.magnitude`` (for the divergence guard)."""
    table, cap = model.table, ws.cap
    a_max = 0.0
    d_max = 0.0
    for l in range(table.shape[0]):
        n = table[l, N_OUT]
        a_max = max_abs_range(ws.a, cap * table[l, A_OFF] + s0 * n, (s1 - s0) * n, a_max)
        d_max = max_abs_range(ws.d, cap * table[l, D_OFF] + s0 * n, (s1 - s0) * n, d_max)
    ws.magnitude[shard, 0] = a_max
    ws.magnitude[shard, 1] = d_max


@jit(inline=True)  # compiled inside its callers only, not as a library of its own too
def _run_phase(model, samples, ws, drop, batch, phase, l, shard, s0, s1, j0, j1):
    """Phase ``phase`` of layer row ``l`` for samples ``s0:s1`` and neurons ``j0:j1``,
    by the thread of shard ``shard`` (its scratch, its row of ``ws.magnitude``)."""
    pack = scratch(ws, shard)
    operands = NO_OPERANDS
    if phase == GATHER:
        _gather_inputs(samples, model, ws, batch, s0, s1)
        operands = INPUT_OPERANDS
    elif phase == FORWARD:
        _forward(model, samples, l, ws, batch, s0, s1, j0, j1, drop, pack)
        operands = OUTPUT_OPERANDS
    elif phase == OUTPUT:
        _output_error(model, samples, ws, batch, s0, s1)
        operands = DELTA_OPERANDS
    elif phase == BACKWARD:
        _backward(model, l, ws, s0, s1, j0, j1, pack, drop, batch.t)
        operands = DELTA_OPERANDS
    else:
        _shard_magnitude(model, ws, s0, s1, shard)
    # bf16-mixed: what the phase computed, as operands of the products (see ``mixed``)
    operands_of(model, ws, operands, l, s0, s1, j0, j1, pack)


def _shard_phases(model, samples, ws, drop, batch, depth, shard, n_shards):
    """Every phase through ``depth`` for shard ``shard`` (of ``n_shards``) of the
    samples, through all layers: one call per shard and batch (passing the structures
    at each phase's call cost S about 5% on one thread)."""
    model, samples, ws, drop = borrowed((model, samples, ws, drop))
    L = model.table.shape[0]
    s0, s1 = even_bounds(shard, n_shards, batch.m)
    for i in range(_n_phases(L, depth)):
        phase, l = _phase_at(i, L)
        _run_phase(model, samples, ws, drop, batch, phase, l, shard, s0, s1, 0,
                   model.table[l, N_OUT])


def _phase(model, samples, ws, drop, batch, phase, l, shard, s0, s1, j0, j1):
    """One phase, for sharing by neurons: each in a parallel region of its own."""
    model, samples, ws, drop = borrowed((model, samples, ws, drop))
    _run_phase(model, samples, ws, drop, batch, phase, l, shard, s0, s1, j0, j1)


# Compiled once per signature (see ``linked``), not again in each caller's code (nor
# twice inside ``_phase_by_neuron``, once in each of its parallel loops).
_run_shard_phases = compiled_alone("shard_phases", _shard_phases)
_run_one_phase = compiled_alone("phase", _phase)


@jit(parallel=True)
def _phases_by_sample(model, samples, ws, drop, batch, depth):
    """Every phase through ``depth`` in one parallel region, each thread taking a shard
    of the samples through all layers."""
    n_shards = min(batch.m, ws.n_shards)
    for shard in prange(0, n_shards):
        _run_shard_phases(model, samples, ws, drop, batch, depth, shard, n_shards)


@jit(parallel=True)
def _phase_by_neuron(model, samples, ws, drop, batch, phase, l):
    """One phase in its own parallel region: a layer's forward pass (but softmax, which
    needs whole rows) and BP2 shared by neurons, the other phases by samples."""
    n_out = model.table[l, N_OUT]
    if phase == BACKWARD or (phase == FORWARD and model.table[l, ACT] != SOFTMAX):
        for shard in prange(0, ws.n_shards):
            j0, j1 = _column_bounds(shard, ws.n_shards, n_out)
            if j0 < j1:
                _run_one_phase(model, samples, ws, drop, batch, phase, l, shard, 0, batch.m,
                               j0, j1)
    else:
        n_shards = min(batch.m, ws.n_shards)
        for shard in prange(0, n_shards):
            s0, s1 = even_bounds(shard, n_shards, batch.m)
            _run_one_phase(model, samples, ws, drop, batch, phase, l, shard, s0, s1, 0, n_out)


@jit
def backprop_batch(model, samples, ws, drop, batch, depth, by_neuron):
    """The forward pass of samples ``order[start:start + m]`` of ``batch`` and, as
    ``depth`` says, their cost and BP1 (COST), and BP2 with each shard's largest |A|
    and |D| in ``ws.magnitude`` (DELTAS). Dropout's masks are drawn for step
    ``batch.t``.

    With ``by_neuron`` None each thread takes a shard of the samples through every
    phase (one parallel region); with True each phase is a parallel region of its own,
    sharing a layer's neurons, so that a thread reads only its slice of W, at the price
    of a barrier per layer: for networks with large layers. The results are the same to
    the bit. None, not False: Numba then prunes the other branch before typing it, so
    only the way in use is compiled.

    A ``MixedModel``'s weights are first rounded to its bfloat16 operands, unless that
    was done since the call began (``gradient_step`` and ``update`` keep them in step
    with the weights, see ``mixed``).
    """
    pack_weights(model, ws)
    if by_neuron is None:
        _phases_by_sample(model, samples, ws, drop, batch, depth)
    else:
        L = model.table.shape[0]
        for i in range(_n_phases(L, depth)):
            phase, l = _phase_at(i, L)
            _phase_by_neuron(model, samples, ws, drop, batch, phase, l)


@jit
def batch_totals(ws, m, x_max):
    """(summed cost, correct predictions, a bound on the entries of the batch-mean
    gradient) of a batch through BP2; ``x_max`` bounds |X|. The sums run in sample
    order, so they do not depend on the threads; the bound is max|D| max(|A|, x_max)."""
    total = 0.0
    correct = 0
    for s in range(m):
        total += ws.cost[s]
        correct += ws.correct[s]
    a_max = x_max
    d_max = 0.0
    for shard in range(min(m, ws.n_shards)):
        a_max = max(a_max, ws.magnitude[shard, 0])
        d_max = max(d_max, ws.magnitude[shard, 1])
    return total, correct, d_max * a_max


@jit(inline=True)
def _layer_rows(model, shard, n_shards, l):
    """Rows ``j0:j1`` of layer row ``l`` owned by ``shard``."""
    return even_bounds(shard, n_shards, model.table[l, N_OUT])


@jit(parallel=True)
def gradient_step(model, samples, ws, opt, batch):
    """BP3 and BP4 for the samples of ``batch`` whose forward pass and deltas are in the
    workspace (filled by ``backprop_batch``), and the optimiser's update at step
    ``batch.t``.

    Plain SGD without weight decay is fused into BP4 (no gradient is stored); the
    others first leave the batch sums (m dC/dW, m dC/db) in ``opt.grad`` and then update
    the parameters and the optimiser's state row by row (bf16-mixed: the weights' sums
    of a block of rows in the thread's ``ws.sums``, see ``mixed.mixed_layer_step``).
    ``opt.code`` -1: the sums are left in ``opt.grad`` and nothing is updated. Shard
    ``s`` takes the ``s``-th slice of the rows of every layer, so the threads share
    every layer. For sparse inputs, the first layer's as ``sparse`` says: the rows of
    ``opt.grad`` of the features absent from the batch are neither written nor read.
    """
    fused = opt.code == SGD and opt.hyper[WEIGHT_DECAY] == 0 and _fusable(model)
    out = model.params if fused else opt.grad
    step = opt.hyper[ETA] / batch.m if fused else 0.0
    n_present = 0 if fused else _batch_features(samples, ws, batch)
    for shard in prange(0, ws.n_shards):
        _run_gradient_shard(model, samples, ws, opt, batch, out, step, n_present, shard)


def _gradient_shard(model, samples, ws, opt, batch, out, step, n_present, shard):
    """``gradient_step`` for the rows of every layer that ``shard`` owns: BP4 into
    ``out`` (times ``step`` where fused), then, unless fused, the update."""
    model, samples, ws, opt, out = borrowed((model, samples, ws, opt, out))
    for l in range(model.table.shape[0]):
        j0, j1 = _layer_rows(model, shard, ws.n_shards, l)
        if j0 < j1:
            _layer_gradient(samples, model, ws, opt, l, batch, j0, j1, out, step, n_present,
                            shard)


@jit
def _dense_layer_gradient(samples, model, ws, opt, l, batch, j0, j1, out, step, n_present,
                          shard):
    """BP3/BP4 of rows ``j0:j1`` of layer row ``l`` into ``out`` (or applied, with
    ``step``), and the optimiser's update of those rows unless fused or ``opt.code`` -1,
    by the thread of shard ``shard``."""
    _layer_step(model, ws, opt, l, batch, j0, j1, out, step, shard)


@jit
def _float_layer_step(model, ws, opt, l, batch, j0, j1, out, step, shard):
    table, cap, m = model.table, ws.cap, batch.m
    n_in, n_out = table[l, N_IN], table[l, N_OUT]
    a_off = 0 if l == 0 else cap * table[l - 1, A_OFF]
    w_off, w_ld, b_off = table[l, W_OFF], table[l, W_LD], table[l, B_OFF]
    gradient_rows(Rows(ws.d, cap * table[l, D_OFF], n_out), Rows(ws.a, a_off, n_in), m,
                  Rows(out, w_off, w_ld), b_off, j0, j1, step, scratch(ws, shard))
    if step == 0 and opt.code >= 0:
        update_rows(opt, Rows(model.params, w_off, w_ld), Rows(opt.grad, w_off, w_ld), n_in,
                    b_off, j0, j1, m, batch.t)


@jit
def _mixed_layer_step(model, ws, opt, l, batch, j0, j1, out, step, shard):
    if float32_layer(model.table, l):
        _float_layer_step(model, ws, opt, l, batch, j0, j1, out, step, shard)
    else:
        mixed_layer_step(model, ws, opt, l, batch, j0, j1, out, scratch(ws, shard),
                         ws.sums[shard])


_layer_step = by_structure(MixedModel, _float_layer_step, _mixed_layer_step)


@jit(inline=True)
def _true(model):
    return True


@jit(inline=True)
def _false(model):
    return False


# Plain SGD is fused into BP4 in float32 only: bf16-mixed's sums pass through a buffer.
_fusable = by_structure(MixedModel, _true, _false)


@jit
def _sparse_layer_gradient(samples, model, ws, opt, l, batch, j0, j1, out, step, n_present,
                           shard):
    """The first layer's from the sparse inputs (see ``sparse``), the others' as for
    dense inputs."""
    if l > 0:
        _dense_layer_gradient(samples, model, ws, opt, l, batch, j0, j1, out, step, n_present,
                              shard)
        return
    table, m = model.table, batch.m
    n_out, b_off = table[0, N_OUT], table[0, B_OFF]
    W = input_weights(out, table)
    if step == 0:
        zero_feature_rows(W, ws.present, n_present, j0, j1)
    D = Rows(ws.d, ws.cap * table[0, D_OFF], n_out)
    sparse_gradient_rows(samples, samples.order, batch.start, D, m, W, b_off, j0, j1, step,
                         scratch(ws, shard))
    if step == 0 and opt.code >= 0:
        lazy_update(opt, input_weights(model.params, table), b_off, ws.present, n_present, j0,
                    j1, m, batch.t)


_layer_gradient = by_input(_dense_layer_gradient, _sparse_layer_gradient)


@jit(inline=True)
def _no_features(samples, ws, batch):
    return 0


@jit
def _sparse_features(samples, ws, batch):
    """The features present in ``batch`` into ``ws.present``; returns how many."""
    return present_features(samples, samples.order, batch.start, batch.m, ws.seen,
                            ws.present)


_batch_features = by_input(_no_features, _sparse_features)


_run_gradient_shard = compiled_alone("gradient_shard", _gradient_shard)  # as _shard_phases


@jit(parallel=True)
def update(model, samples, ws, opt, batch):
    """The optimiser's update at step ``batch.t`` from batch sums of ``batch.m`` samples
    already in ``opt.grad`` (for data-parallel training, where the sums of several
    processes are added first); each shard takes a slice of every layer's rows, as in
    ``gradient_step`` (for sparse inputs, the first layer's rows of the features present
    in ``batch``)."""
    table = model.table
    n_present = _batch_features(samples, ws, batch)
    for shard in prange(0, ws.n_shards):
        for l in range(table.shape[0]):
            j0, j1 = _layer_rows(model, shard, ws.n_shards, l)
            if j0 < j1:
                _layer_update(samples, model, ws, opt, l, batch, j0, j1, n_present)
                pack_rows(model, l, j0, j1, scratch(ws, shard))


@jit
def _dense_layer_update(samples, model, ws, opt, l, batch, j0, j1, n_present):
    table = model.table
    update_rows(opt, _weights(model, l), Rows(opt.grad, table[l, W_OFF], table[l, W_LD]),
                table[l, N_IN], table[l, B_OFF], j0, j1, batch.m, batch.t)


@jit
def _sparse_layer_update(samples, model, ws, opt, l, batch, j0, j1, n_present):
    if l == 0:
        lazy_update(opt, input_weights(model.params, model.table), model.table[0, B_OFF],
                    ws.present, n_present, j0, j1, batch.m, batch.t)
    else:
        _dense_layer_update(samples, model, ws, opt, l, batch, j0, j1, n_present)


_layer_update = by_input(_dense_layer_update, _sparse_layer_update)


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
    for shard in prange(0, n_shards):
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


@jit(inline=True)
def bounded(optimizer, hyper, t, g_max, w_max, s_max, limit):
    """Whether the update's bounds (see ``update_bounds``) stay below ``limit``; Adam's
    (AdamW's, RMSprop's) second moment holds squares, so its bound squared must too."""
    w_next, s_next = update_bounds(optimizer, hyper, t, g_max, w_max, s_max)
    s_bound = s_next * s_next if keeps_squares(optimizer) else s_next
    return w_next < limit and s_bound < limit


@jit
def admissible(model, ws, opt, total, g_max, m, t):
    """The divergence guard: whether step ``t``'s update may be applied, given the
    batch's summed cost ``total`` and a bound ``g_max`` on the entries of its
    batch-mean gradient (both summed over processes in data-parallel training).

    A step is applied only if its cost is finite and max(eta, 1) m ``g_max`` (a bound
    on each entry of eta times the batch sum of BP4) stays below ``UPDATE_LIMIT``. With
    weight decay, momentum or Adam, which move the parameters by more than the
    gradient, the parameters and the optimiser's state after the update are bounded
    too: bounds carried from step to step in ``ws.bounds`` by ``update_bounds`` (the
    weight-decay term included), and, where those reach the limit (and at the first
    step, ``ws.bounds`` being infinite), the exact maxima (``parameter_magnitude``, one
    pass over the parameters). Plain SGD keeps the first bound alone: a step moves a
    weight by less than the limit, which is 1e8 times below float32's largest value.
    """
    limit = UPDATE_LIMIT_32 if model.params.itemsize == 4 else UPDATE_LIMIT_64
    hyper = opt.hyper
    if not (abs(total) < np.inf and max(hyper[ETA], 1.0) * m * g_max < limit):
        return False
    if opt.code == SGD and hyper[WEIGHT_DECAY] == 0:
        return True
    w_max, s_max = ws.bounds[0], ws.bounds[1]
    if not bounded(opt.code, hyper, t, g_max, w_max, s_max, limit):
        w_max, s_max = parameter_magnitude(model.params, opt.state1, opt.state2, opt.code,
                                           ws.magnitude, ws.n_shards)
        if not bounded(opt.code, hyper, t, g_max, w_max, s_max, limit):
            return False
    ws.bounds[0], ws.bounds[1] = update_bounds(opt.code, hyper, t, g_max, w_max, s_max)
    return True


@jit
def train_epoch(model, samples, opt, ws, drop, record, first_batch, last_batch, x_max,
                by_neuron):
    """Mini-batch training over batches ``first_batch:last_batch`` of ``samples.order``.

    Batch b holds samples ``order[b * cap : (b + 1) * cap]`` (the last may be shorter;
    ``cap`` = ``ws.cap`` is the batch size). ``record.cost[b]`` receives the summed cost
    of its samples before the update and ``record.correct[b]`` how many were classified
    correctly. The optimiser's step count is ``opt.t`` before the first batch, and
    dropout's masks are drawn for each step's count. ``x_max`` bounds |X| (for the
    divergence guard, see ``admissible``); ``by_neuron``: see ``backprop_batch``.

    A batch whose step the guard refuses ends the call before its update, so the
    parameters hold the result of the last admissible step. Returns the index of the
    first batch not applied: ``last_batch`` when all were.
    """
    n = samples.order.shape[0]
    cap = ws.cap
    ws.bounds[0] = ws.bounds[1] = np.inf  # taken exactly at the first step that needs them
    for b in range(first_batch, last_batch):
        m = min(cap, n - b * cap)
        t = opt.t + b - first_batch + 1
        # int64, not the literal DELTAS: the Python callers' compiled backprop_batch then
        # serves here too (a literal argument is a type of its own, compiled again).
        backprop_batch(model, samples, ws, drop, Batch(b * cap, m, t), np.int64(DELTAS),
                       by_neuron)
        total, correct, g_max = batch_totals(ws, m, x_max)
        record.cost[b] = total
        record.correct[b] = correct
        if not admissible(model, ws, opt, total, g_max, m, t):
            return b
        gradient_step(model, samples, ws, opt, Batch(b * cap, m, t))
    return last_batch
