"""Whole-batch and whole-epoch kernels: forward, BP1-BP4 and the update in compiled code.

Three layers, outermost first:

- ``train_epoch`` (serial) loops over mini-batches without returning to Python;
- ``backprop_batch`` / ``gradient_step`` / ``forward_batch`` (parallel) share one batch
  among threads;
- ``_forward_shard`` / ``_backward_shard`` (serial) do the work for a range of samples.

How the work is shared: forward, BP1 and BP2 are independent per sample, so the batch
is cut into one contiguous shard of samples per thread. BP3/BP4 sum over samples, so
there the gradient is cut instead: each thread owns whole rows of dC/dW (its own part
of the gradient buffer) and sums the batch in sample order. No value depends on which
thread computed it, so results are bit-identical for any thread count, and no
per-thread copy of the gradient has to be reduced.
"""

from numba import prange

from .._config import jit
from .backprop import delta_backward, gradient_rows
from .costs import cost, output_delta
from .dense import dense_forward
from .layout import ACT, N_OUT, biases_of, deltas_of, inputs_of, outputs_of, weights_of
from .update import sgd_rows

# Rows of dC/dW handed to a thread at a time in BP3/BP4.
GRADIENT_ROWS = 4


@jit
def _shard_bounds(shard, n_shards, m):
    return shard * m // n_shards, (shard + 1) * m // n_shards


@jit
def _forward_shard(params, table, X, order, start, m, cap, a_ws, s0, s1):
    """Gather samples ``order[start + s0 : start + s1]`` of X and run them forward."""
    x = inputs_of(a_ws, table, cap, m)
    for s in range(s0, s1):
        x[s, :] = X[order[start + s], :]
    a_prev = x
    for l in range(table.shape[0]):
        a = outputs_of(a_ws, table, cap, m, l)
        dense_forward(a_prev, weights_of(params, table, l), biases_of(params, table, l),
                      table[l, ACT], a, s0, s1)
        a_prev = a


@jit
def _argmax(v):
    best = 0
    for j in range(1, v.shape[0]):
        if v[j] > v[best]:
            best = j
    return best


@jit
def _backward_shard(params, table, cost_code, Y, order, start, m, cap, a_ws, d_ws,
                    sample_cost, sample_correct, s0, s1):
    """Cost, BP1 and BP2 for samples ``s0:s1`` whose forward pass is in ``a_ws``."""
    L = table.shape[0]
    a_out = outputs_of(a_ws, table, cap, m, L - 1)
    delta_out = deltas_of(d_ws, table, cap, m, L - 1)
    for s in range(s0, s1):
        y = Y[order[start + s]]
        sample_cost[s] = cost(a_out[s], y, cost_code)
        if a_out.shape[1] == 1:
            sample_correct[s] = (a_out[s, 0] > 0.5) == (y[0] > 0.5)
        else:
            sample_correct[s] = _argmax(a_out[s]) == _argmax(y)
        output_delta(a_out[s], y, table[L - 1, ACT], cost_code, delta_out[s])
    for l in range(L - 2, -1, -1):
        delta_backward(deltas_of(d_ws, table, cap, m, l + 1), weights_of(params, table, l + 1),
                       outputs_of(a_ws, table, cap, m, l), table[l, ACT],
                       deltas_of(d_ws, table, cap, m, l), s0, s1)


@jit(parallel=True)
def forward_batch(params, table, X, order, start, m, cap, a_ws, n_shards):
    """A[L] of samples ``order[start:start + m]``, left in the activation workspace.

    ``n_shards`` is the number of threads (``numba.get_num_threads()`` inside a kernel
    would keep it out of the on-disk cache).
    """
    n_shards = min(m, n_shards)
    for shard in prange(n_shards):
        s0, s1 = _shard_bounds(shard, n_shards, m)
        _forward_shard(params, table, X, order, start, m, cap, a_ws, s0, s1)


@jit(parallel=True)
def backprop_batch(params, table, cost_code, X, Y, order, start, m, cap, a_ws, d_ws,
                   sample_cost, sample_correct, n_shards):
    """Forward, cost, BP1 and BP2 for samples ``order[start:start + m]``, sharded by sample."""
    n_shards = min(m, n_shards)
    for shard in prange(n_shards):
        s0, s1 = _shard_bounds(shard, n_shards, m)
        _forward_shard(params, table, X, order, start, m, cap, a_ws, s0, s1)
        _backward_shard(params, table, cost_code, Y, order, start, m, cap, a_ws, d_ws,
                        sample_cost, sample_correct, s0, s1)


@jit
def _row_blocks(table, l):
    return (table[l, N_OUT] + GRADIENT_ROWS - 1) // GRADIENT_ROWS


@jit
def _locate_task(table, task):
    """Layer row and first neuron of the ``task``-th block of GRADIENT_ROWS rows."""
    l = 0
    while task >= _row_blocks(table, l):
        task -= _row_blocks(table, l)
        l += 1
    return l, task * GRADIENT_ROWS


@jit(parallel=True)
def gradient_step(params, table, m, cap, a_ws, d_ws, grad, learning_rate):
    """BP3 and BP4 into ``grad`` and, if ``learning_rate`` > 0, the SGD update of ``params``.

    Needs ``backprop_batch`` to have filled the workspaces; sharded by rows of dC/dW.
    """
    L = table.shape[0]
    n_tasks = 0
    for l in range(L):
        n_tasks += _row_blocks(table, l)
    for task in prange(n_tasks):
        l, j0 = _locate_task(table, task)
        j1 = min(j0 + GRADIENT_ROWS, table[l, N_OUT])
        if l == 0:
            a_prev = inputs_of(a_ws, table, cap, m)
        else:
            a_prev = outputs_of(a_ws, table, cap, m, l - 1)
        grad_weights = weights_of(grad, table, l)
        grad_biases = biases_of(grad, table, l)
        gradient_rows(deltas_of(d_ws, table, cap, m, l), a_prev, grad_weights, grad_biases, j0, j1)
        if learning_rate > 0:
            sgd_rows(weights_of(params, table, l), biases_of(params, table, l),
                     grad_weights, grad_biases, learning_rate, j0, j1)


@jit
def train_epoch(params, table, cost_code, X, Y, order, batch_size, first_batch, last_batch,
                learning_rate, a_ws, d_ws, grad, sample_cost, sample_correct,
                batch_cost, batch_correct, n_shards):
    """Mini-batch SGD over batches ``first_batch:last_batch`` of the shuffled ``order``.

    Batch b holds samples ``order[b * batch_size : (b + 1) * batch_size]`` (the last
    may be shorter). ``batch_cost[b]`` receives the summed cost of its samples before
    the update and ``batch_correct[b]`` how many were classified correctly.
    """
    n = order.shape[0]
    for b in range(first_batch, last_batch):
        start = b * batch_size
        m = min(batch_size, n - start)
        backprop_batch(params, table, cost_code, X, Y, order, start, m, batch_size,
                       a_ws, d_ws, sample_cost, sample_correct, n_shards)
        gradient_step(params, table, m, batch_size, a_ws, d_ws, grad, learning_rate)
        total = 0.0
        correct = 0
        for s in range(m):  # in sample order: the sum does not depend on the threads
            total += sample_cost[s]
            correct += sample_correct[s]
        batch_cost[b] = total
        batch_correct[b] = correct
